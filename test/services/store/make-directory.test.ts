import { spawn } from 'node:child_process'
import { existsSync, statSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
import { makeDirectory } from '../../../services/store/make-directory.js'
import { ROOT, tempDir } from '../../helper.js'

t.test('makes every missing directory of a path; an existing one is fine', async (t) => {
  const dir = tempDir(t)
  const deep = join(dir, 'a', 'b', 'c')
  makeDirectory(deep)
  t.ok(statSync(deep).isDirectory())
  makeDirectory(deep)
  makeDirectory(dir)
  t.ok(existsSync(join(dir, 'a', 'b')))
})

t.test('a path that cannot be made fails within a second, naming the directory', async (t) => {
  const dir = tempDir(t)
  const file = join(dir, 'plain-file')
  writeFileSync(file, '')
  const cases: Array<[string, RegExp]> = [
    ['/proc/no-such-dir', /ENOENT.*'\/proc\/no-such-dir'/],
    ['/proc/no/deeper', /ENOENT.*'\/proc\/no'/],
    [join(file, 'sub'), /'.*plain-file' exists and is not a directory|ENOTDIR/],
    [file, /plain-file' exists and is not a directory/]
  ]
  for (const [path, message] of cases) {
    // In a child process: a synchronous endless loop (as Node's recursive mkdir has under /proc)
    // would otherwise hang this test process too.
    const script = `import { makeDirectory } from './services/store/make-directory.ts'
      const started = performance.now()
      try { makeDirectory(${JSON.stringify(path)}); console.log(JSON.stringify({ made: true })) }
      catch (err) { console.log(JSON.stringify({ message: err.message, ms: performance.now() - started })) }`
    const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { cwd: ROOT, stdio: ['ignore', 'pipe', 'inherit'] })
    let stdout = ''
    child.stdout.on('data', (d: Buffer) => { stdout += d.toString() })
    const hang = setTimeout(() => child.kill('SIGKILL'), 30_000)
    await new Promise((resolve) => child.once('close', resolve))
    clearTimeout(hang)
    const result = JSON.parse(stdout.trim() || '{}') as { message?: string, ms?: number }
    t.match(result.message, message, `${path}: ${result.message}`)
    t.ok(result.ms !== undefined && result.ms < 1000, `${path}: failed after ${result.ms?.toFixed(1)} ms`)
  }
})
