import { spawn } from 'node:child_process'
import { createInterface } from 'node:readline'
import t from 'tap'
import { ROOT } from '../helper.js'
import { buildViewer } from './browser.js'

// `npm run demo` (its script, demo/run.ts): prints the viewer's URL and serves the demo project with
// the stand-in, DEMO_MODE on, until stopped.

await buildViewer()

t.test('the demo prints its URL, runs the demo project in demo mode and stops on SIGTERM', async (t) => {
  const child = spawn(process.execPath, ['--import', 'tsx', 'demo/run.ts'], {
    cwd: ROOT, env: { ...process.env, PORT: '0' }, stdio: ['ignore', 'pipe', 'pipe']
  })
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)))
  t.teardown(() => { if (child.exitCode === null) child.kill('SIGKILL') })
  const url = await new Promise<string>((resolve, reject) => {
    createInterface({ input: child.stdout }).on('line', (line) => {
      const m = /^bolt-stream demo: open (http:\/\/127\.0\.0\.1:\d+\/) /.exec(line)
      if (m !== null) resolve(m[1])
    })
    void exited.then((code) => reject(new Error(`the demo exited (${code}) before printing its URL`)))
  })
  t.pass(`printed ${url}`)
  t.match(await (await fetch(`${url}api/info`)).json(), { demoMode: true, authRequired: false })
  const tasks = await (await fetch(`${url}api/tasks`)).json() as Array<{ name: string }>
  t.ok(tasks.some((task) => task.name === 'fleet::deploy') && tasks.some((task) => task.name === 'fleet::logs'), 'the demo tasks')
  const plans = await (await fetch(`${url}api/plans`)).json() as Array<{ name: string }>
  t.ok(plans.some((plan) => plan.name === 'fleet::rollout'), 'the demo plan')
  const groups = await (await fetch(`${url}api/groups`)).json() as Array<{ name: string }>
  t.same(groups.map((g) => g.name), ['all', 'web', 'db'])
  t.equal((await fetch(`${url}executions`)).status, 200, 'the viewer is served')

  child.kill('SIGTERM')
  t.equal(await exited, 0, 'stopped cleanly')
})
