/// <reference lib="dom" />
/// <reference lib="dom.iterable" />
// page.evaluate callbacks run in the browser: the DOM types.
import { cpSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
import { build, ROOT, tempDir } from '../helper.js'
import { buildViewer, gatedCommand, launch, noChromium, watchPage } from './browser.js'

// The history and inventory pages, on the demo project (its groups, facts and vars).

if (noChromium === false) await buildViewer()

async function demoApp (t: Parameters<typeof build>[0]): ReturnType<typeof build> {
  const project = join(tempDir(t, 'bolt-stream-demo-project-'), 'demo')
  cpSync(join(ROOT, 'demo/project'), project, { recursive: true })
  return build(t, { listen: true, env: { BOLT_PROJECT: project } })
}

async function start (url: string, targets: string[], command: string): Promise<string> {
  const res = await fetch(`${url}/api/commands`, {
    method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ targets, command, expertMode: true })
  })
  return (await res.json() as { executionId: string }).executionId
}

t.test('the history shows new executions and their statuses as they change, and filters by URL', { skip: noChromium }, async (t) => {
  const ctx = await demoApp(t)
  const failed = await start(ctx.url, ['web1'], 'exit 3')
  const page = await (await launch(t)).newPage()
  const watch = await watchPage(page)
  await page.goto(`${ctx.url}/executions`)
  await page.locator(`[data-testid="execution-row"][data-id="${failed}"] [data-testid="row-status"]`, { hasText: 'failed' }).waitFor()

  const gate = join(tempDir(t), 'go')
  const running = await start(ctx.url, ['db1'], gatedCommand(gate, 'one', 'two'))
  const row = page.locator(`[data-testid="execution-row"][data-id="${running}"]`)
  await row.getByTestId('row-status').filter({ hasText: 'running' }).waitFor()
  t.equal(await page.getByTestId('execution-row').first().getAttribute('data-id'), running, 'newest first, without a reload')
  writeFileSync(gate, '')
  await row.getByTestId('row-status').filter({ hasText: 'success' }).waitFor()
  t.pass('the status turned success on its own')

  await page.getByTestId('filter-status').selectOption('failed')
  await page.getByRole('button', { name: 'Filter' }).click()
  await page.waitForURL(/\/executions\?status=failed$/)
  await page.waitForFunction(() => document.querySelectorAll('[data-testid="execution-row"]').length === 1)
  t.equal(await page.getByTestId('execution-row').getAttribute('data-id'), failed, 'only the failed one')

  // The filtered list is a link: opened fresh, it filters the same way.
  await page.goto(`${ctx.url}/executions?target=db1`)
  await page.waitForFunction(() => document.querySelectorAll('[data-testid="execution-row"]').length === 1)
  t.equal(await page.getByTestId('execution-row').getAttribute('data-id'), running)
  await page.getByTestId('execution-row').getByRole('link').click()
  await page.waitForURL(`${ctx.url}/executions/${running}`)
  await page.getByTestId('execution-status').filter({ hasText: 'success' }).waitFor()
  t.same(watch.problems(), [])
})

t.test('the inventory: groups, a target\'s facts and vars, its recent executions, a run form preset to it', { skip: noChromium }, async (t) => {
  const ctx = await demoApp(t)
  const onDb = await start(ctx.url, ['db1'], 'echo db')
  const page = await (await launch(t)).newPage()
  const watch = await watchPage(page)
  await page.goto(`${ctx.url}/targets`)
  await page.getByTestId('targets-table').getByRole('link', { name: 'web2' }).waitFor()
  t.same(await page.$$eval('[data-testid="targets-table"] tbody th', (n) => n.map((x) => x.textContent)), ['web1', 'web2', 'db1'])
  await page.getByTestId('group-select').selectOption('db')
  await page.waitForURL(/\/targets\?group=db$/)
  await page.waitForFunction(() => document.querySelectorAll('[data-testid="targets-table"] tbody th').length === 1)
  await page.getByTestId('targets-table').getByRole('link', { name: 'db1' }).click()

  await page.waitForURL(`${ctx.url}/targets/db1`)
  await page.getByTestId('target-facts').filter({ hasText: '"role": "database"' }).waitFor()
  t.match(await page.getByTestId('target-vars').textContent(), /"engine": "postgresql"/)
  await page.locator(`[data-testid="execution-row"][data-id="${onDb}"]`).waitFor()
  t.equal(await page.getByTestId('execution-row').count(), 1, 'its own executions only')

  t.match(await page.getByTestId('selected-targets').textContent(), /db1/, 'the run form is preset to it')
  await page.getByLabel('Command to run').fill('echo from the target page')
  await page.getByTestId('run-submit').click()
  await page.waitForURL(/\/executions\/[0-9a-f-]{36}$/)
  await page.getByTestId('output-line').filter({ hasText: 'from the target page' }).waitFor()
  t.equal(await page.getByTestId('output-line').first().getAttribute('data-target'), 'db1')
  t.same(watch.problems(), [])
})

t.test('the run page runs a task with groups picked from the inventory', { skip: noChromium }, async (t) => {
  const ctx = await demoApp(t)
  const page = await (await launch(t)).newPage()
  await page.goto(`${ctx.url}/run?kind=task&item=fleet::deploy`)
  await page.getByRole('checkbox', { name: 'web', exact: true }).check()
  const token = page.getByLabel(/^api_token/)
  t.equal(await token.getAttribute('type'), 'password', 'a sensitive parameter is a password field')
  t.equal(await page.getByLabel(/^version/).getAttribute('required'), '', 'required')
  t.same(await page.getByLabel(/^fail/).locator('option').allTextContents(), ['(default: false)', 'true', 'false'])
  await page.getByLabel(/^version/).fill('9.9')
  await page.getByLabel(/^steps/).fill('1')
  await page.getByTestId('run-submit').click()
  await page.waitForURL(/\/executions\/[0-9a-f-]{36}$/)
  await page.getByTestId('execution-status').filter({ hasText: 'success' }).waitFor()
  const id = page.url().split('/').pop()!
  const record = await (await fetch(`${ctx.url}/api/executions/${id}`)).json() as { targets: string[], request: unknown, results: Array<{ target: string }> }
  t.same(record.targets, ['web'], 'the group went as the target')
  t.same(record.results.map((r) => r.target).sort(), ['web1', 'web2'])
  t.same(record.request, { task: 'fleet::deploy', params: { version: '9.9', steps: 1 }, redacted: false })
})
