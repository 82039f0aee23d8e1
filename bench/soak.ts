// A soak of the service (not a test): N rounds, each starting one execution of every kind and
// following each with many stream connections, some of them cut mid-stream and resumed with
// Last-Event-ID. Checks that every connection chain got every event once, in order (0 gaps,
// 0 duplicates), that no Bolt process (stand-in or its shells) is left, and that the service's
// open file descriptors are back to their baseline. Run:
//   node --import tsx bench/soak.ts [rounds (5)] [streams per execution (10)]
import { randomBytes } from 'node:crypto'
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { copyProject } from '../test/fixtures/projects.js'
import { STAND_IN, openStream, postJson, startServer, until } from '../test/helper.js'

const ROUNDS = Number(process.argv[2] ?? 5)
const STREAMS = Number(process.argv[3] ?? 10)
/** Marks every process the service's Bolt runs start (passed through to Bolt's environment). */
const TAG = `bssoak-${randomBytes(4).toString('hex')}`

const KINDS: Array<{ path: string, body: Record<string, unknown> }> = [
  { path: 'commands', body: { command: 'for i in $(seq 1 200); do echo "line $i of some output"; done', expertMode: true } },
  { path: 'tasks', body: { task: 'demo::echo', params: { message: 'soak' }, expertMode: true } },
  { path: 'puppet-runs', body: { noop: true, expertMode: true } },
  { path: 'packages', body: { name: 'vim', action: 'status', expertMode: true } }
]

interface Figures { connections: number, resumes: number, events: number, gaps: number, duplicates: number }

/** Follows one execution to its terminal event, cutting the connection after `cutAfter` events each time. */
async function follow (url: string, cutAfter: number, figures: Figures): Promise<void> {
  const seen: number[] = []
  for (let attempt = 0; attempt < 1000; attempt++) {
    const headers: Record<string, string> = seen.length > 0 ? { 'last-event-id': String(seen[seen.length - 1]) } : {}
    if (attempt > 0) figures.resumes++
    figures.connections++
    const stream = await openStream(url, headers)
    if (stream.status === 204) break
    if (stream.status !== 200) throw new Error(`stream answered ${stream.status}: ${stream.body}`)
    let terminal = false
    let taken = 0
    let ended = false
    void stream.ended.then(() => { ended = true })
    const cutAt = cutAfter > 0 ? seen.length + cutAfter : Infinity
    while (!terminal && seen.length < cutAt) {
      for (; taken < stream.events.length && !terminal; taken++) {
        const e = stream.events[taken]
        if (e.id === undefined) continue
        seen.push(Number(e.id))
        terminal = e.event === 'complete' || e.event === 'error'
      }
      if (ended && taken >= stream.events.length) break
      await Promise.race([stream.ended, new Promise((resolve) => setTimeout(resolve, 5))])
    }
    stream.close()
    if (terminal) break
  }
  figures.events += seen.length
  for (let i = 0; i < seen.length; i++) {
    if (seen[i] === i + 1) continue
    if (seen.indexOf(seen[i]) < i) figures.duplicates++
    else figures.gaps++
    break
  }
}

/** Processes with the tag in their environment, the service itself left out. */
function tagged (service: number): number[] {
  const pids: number[] = []
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry) || Number(entry) === service) continue
    try {
      if (readFileSync(`/proc/${entry}/environ`, 'latin1').includes(TAG)) pids.push(Number(entry))
    } catch { /* gone, or not ours */ }
  }
  return pids
}

const fds = (pid: number): number => readdirSync(`/proc/${pid}/fd`).length

async function main (): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'bolt-stream-soak-'))
  const project = copyProject('test', join(dir, 'project'))
  const server = await startServer({
    BOLT_PATH: STAND_IN,
    BOLT_PROJECT: project,
    DATABASE_PATH: join(dir, 'soak.db'),
    // 'info': the helper waits for the "Server listening" line.
    LOG_LEVEL: 'info',
    MAX_STREAMS_PER_CLIENT: '100000',
    RATE_LIMIT_MAX: '1000000',
    STANDIN_STARTUP_DELAY_MS: '0',
    SOAK_TAG: TAG,
    BOLT_ENV_PASSTHROUGH: 'STANDIN_STARTUP_DELAY_MS,SOAK_TAG',
    HOME: process.env.HOME ?? dir
  })
  const pid = server.child.pid as number
  const figures: Figures = { connections: 0, resumes: 0, events: 0, gaps: 0, duplicates: 0 }
  const started = performance.now()
  try {
    await until(async () => (await fetch(`${server.url}/health/ready`)).ok, 20_000, 'readiness')
    // A first execution opens what stays open (the WAL, the checkpoint thread's files) before the baseline.
    const warm = await postJson(`${server.url}/api/commands`, { targets: ['a'], command: 'echo warm-up' })
    await follow(`${server.url}${warm.json.streamUrl as string}`, 0, { connections: 0, resumes: 0, events: 0, gaps: 0, duplicates: 0 })
    await until(() => tagged(pid).length === 0, 10_000, 'the warm-up to be gone')
    const baseline = fds(pid)
    let executions = 0
    for (let round = 0; round < ROUNDS; round++) {
      const followers: Array<Promise<void>> = []
      for (const kind of KINDS) {
        const res = await postJson(`${server.url}/api/${kind.path}`, { targets: ['a', 'b'], ...kind.body })
        if (res.status !== 202) throw new Error(`POST ${kind.path}: ${res.status} ${JSON.stringify(res.json)}`)
        executions++
        const url = `${server.url}${res.json.streamUrl as string}`
        // Half follow in one connection, half are cut every few events and resume.
        for (let s = 0; s < STREAMS; s++) followers.push(follow(url, s % 2 === 0 ? 0 : 1 + (s % 7), figures))
      }
      await Promise.all(followers)
    }
    await until(() => tagged(pid).length === 0, 10_000, 'Bolt processes to be gone').catch(() => {})
    await until(async () => ((await (await fetch(`${server.url}/api/streaming/stats`)).json()) as { subscribers: number }).subscribers === 0, 10_000, 'streams to close')
    await until(() => fds(pid) <= baseline, 10_000, 'fds back to baseline').catch(() => {})
    const stats = await (await fetch(`${server.url}/api/streaming/stats`)).json() as { storeCacheBytes: number }
    const listed = await (await fetch(`${server.url}/api/executions?limit=100`)).json() as { executions: Array<{ type: string, status: string }> }
    const statuses: Record<string, number> = {}
    for (const e of listed.executions) statuses[`${e.type} ${e.status}`] = (statuses[`${e.type} ${e.status}`] ?? 0) + 1
    console.log(JSON.stringify({
      rounds: ROUNDS,
      executions,
      streamsPerExecution: STREAMS,
      ...figures,
      leftoverProcesses: tagged(pid).length,
      fds: { baseline, after: fds(pid) },
      storeCacheBytes: stats.storeCacheBytes,
      lastStatuses: statuses,
      seconds: Math.round((performance.now() - started) / 100) / 10
    }, null, 2))
  } finally {
    server.child.kill('SIGTERM')
    await server.exited
    rmSync(dir, { recursive: true, force: true })
  }
}

await main()
