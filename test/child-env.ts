// Loaded into every test process (package.json `tap.node-arg`). tap starts each test file with its
// process-info hook and injects the same hook into every process the file spawns (through
// NODE_OPTIONS and a spawn listener): it maps coverage, which this suite does not collect. In a
// spawned process the hook costs more than the process's own work (a Bolt stand-in run: about
// 0.5 s of CPU with it, 0.2 s without), and the suite spawns about a thousand. The processes the
// tests start — Bolt stand-ins, servers, CLIs — run as they would outside tap.
import processOnSpawn from 'process-on-spawn'

processOnSpawn.removeAllListeners()
delete process.env.NODE_OPTIONS
