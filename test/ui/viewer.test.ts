/// <reference lib="dom" />
/// <reference lib="dom.iterable" />
// page.evaluate callbacks run in the browser: the DOM types.
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
import { build, tempDir } from '../helper.js'
import { ARTIFACTS, buildViewer, gatedCommand, launch, lineTexts, noChromium, waitStatus, watchPage } from './browser.js'

// The viewer in a real Chromium against the real service: starting a command from the page, live
// lines before the end, the exact text after it, follow mode, filters, copy, download, re-run.

if (noChromium === false) await buildViewer()

t.test('a command started from the run page shows its lines live, then the exact result', { skip: noChromium }, async (t) => {
  const ctx = await build(t, { listen: true })
  const gate = join(tempDir(t), 'go')
  const page = await (await launch(t)).newPage()
  const watch = await watchPage(page)

  await page.goto(`${ctx.url}/run`)
  await page.getByLabel('Command to run').fill(gatedCommand(gate, 'first line', 'last line'))
  await page.getByLabel('Other targets').fill('alpha, beta')
  await page.getByRole('button', { name: 'Add', exact: true }).click()
  await page.getByTestId('run-submit').click()
  await page.waitForURL(/\/executions\/[0-9a-f-]{36}$/)

  await page.locator('[data-testid="output-line"][data-target="beta"]').first().waitFor()
  await page.locator('[data-testid="output-line"][data-target="alpha"]').first().waitFor()
  t.equal(await page.getByTestId('execution-status').textContent(), 'running', 'lines are shown before the end')
  t.same((await lineTexts(page)).sort(), ['first line', 'first line'])
  t.match(await page.getByTestId('bolt-command').textContent(), /^bolt command run .*--targets=alpha,beta/, 'the Bolt command (expert mode)')
  t.equal(await page.getByTestId('connection-state').textContent(), 'live')

  // The elapsed time ticks while it runs.
  const elapsed = await page.getByTestId('elapsed').textContent()
  await page.waitForFunction((before) => document.querySelector('[data-testid="elapsed"]')?.textContent !== before, elapsed)

  mkdirSync(ARTIFACTS, { recursive: true })
  await page.screenshot({ path: join(ARTIFACTS, 'viewer-mid-run.png') })
  t.ok(readFileSync(join(ARTIFACTS, 'viewer-mid-run.png')).length > 10_000, 'a screenshot of the viewer mid-run')

  writeFileSync(gate, '')
  t.equal(await waitStatus(page, 'success', 'failed', 'partial'), 'success')
  await page.locator('[data-testid="output-line"]').nth(3).waitFor()
  const lines = await page.$$eval('[data-testid="output-line"]', (nodes) => nodes.map((n) => ({
    target: n.getAttribute('data-target'), stream: n.getAttribute('data-stream'), text: n.querySelector('.line-text')?.textContent
  })))
  // Target blocks come in the order of Bolt's results (the order targets finished).
  const blocks = lines[0].target === 'alpha' ? ['alpha', 'beta'] : ['beta', 'alpha']
  t.same(lines, blocks.flatMap((target) => [
    { target, stream: 'stdout', text: 'first line' }, { target, stream: 'stdout', text: 'last line' }
  ]), 'after the end, each target shows its result text, as one block')
  t.equal(await page.getByTestId('connection-state').textContent(), 'finished')
  t.equal(await page.getByTestId('results').locator('tbody tr').count(), 2)
  t.same(watch.problems(), [], 'no error, no CSP violation')
})

t.test('follow mode, jump to live, filters, copy, download and re-run', { skip: noChromium }, async (t) => {
  const ctx = await build(t, { listen: true })
  const gate = join(tempDir(t), 'go')
  // 200 lines per target now (stdout and every tenth on stderr), 50 more after the gate.
  const command = 'for i in $(seq 1 200); do echo "early $i"; [ $((i % 10)) -eq 0 ] && echo "warn $i" >&2; done; ' +
    `while [ ! -f '${gate}' ]; do sleep 0.05; done; for i in $(seq 1 50); do echo "late $i"; done`
  const res = await fetch(`${ctx.url}/api/commands`, {
    method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ targets: ['alpha', 'beta'], command, expertMode: true })
  })
  const { executionId } = await res.json() as { executionId: string }
  const context = await launch(t, { origin: ctx.url })
  const page = await context.newPage()
  const watch = await watchPage(page)
  await page.goto(`${ctx.url}/executions/${executionId}`)

  // Following: the newest line is in view.
  await page.getByTestId('line-count').filter({ hasText: /^440 lines$/ }).waitFor()
  t.equal(await page.getByTestId('follow-state').textContent(), 'Following')
  const viewport = page.getByTestId('output-viewport')
  const atBottom = (): Promise<boolean> => viewport.evaluate((el) => el.scrollTop + el.clientHeight >= el.scrollHeight - 20)
  t.ok(await atBottom(), 'scrolled to the end')

  // The reader scrolls up: following pauses, and new lines do not move the view.
  await viewport.hover()
  await page.mouse.wheel(0, -600)
  await page.getByTestId('jump-to-live').waitFor()
  const top = await viewport.evaluate((el) => el.scrollTop)
  writeFileSync(gate, '')
  await waitStatus(page, 'success')
  await page.waitForFunction(() => document.querySelector('[data-testid="output-viewport"] .output-spacer')!.clientHeight >= 2 * 270 * 20)
  t.equal(await viewport.evaluate((el) => el.scrollTop), top, 'the view stayed where the reader put it')
  t.notOk(await atBottom())
  t.equal(await page.getByText('late 50').count(), 0, 'the newest lines are not in view (nor in the DOM)')

  await page.getByTestId('jump-to-live').click()
  await page.getByTestId('follow-state').waitFor()
  // After the end each target is one block, stdout then stderr: the last line is a target's last warning.
  await page.locator('[data-testid="output-line"][data-stream="stderr"]', { hasText: 'warn 200' }).last().waitFor()
  t.ok(await atBottom(), 'jump to live: back at the end')

  // Filters: a target, then a stream.
  await page.getByTestId('filter-target').selectOption('alpha')
  await page.waitForFunction(() => [...document.querySelectorAll('[data-testid="output-line"]')].every((n) => n.getAttribute('data-target') === 'alpha'))
  t.ok(await page.locator('[data-testid="output-line"][data-target="alpha"]').count() > 10)
  await page.getByTestId('filter-stream').selectOption('stderr')
  await page.waitForFunction(() => {
    const lines = [...document.querySelectorAll('[data-testid="output-line"]')]
    return lines.length === 20 && lines.every((n) => n.getAttribute('data-stream') === 'stderr' && n.getAttribute('data-target') === 'alpha')
  })
  t.same(await lineTexts(page), Array.from({ length: 20 }, (_, i) => `warn ${(i + 1) * 10}`), 'alpha\'s stderr only')

  // Copy: the filtered lines, as text.
  await page.getByTestId('copy-output').click()
  await page.getByTestId('output-notice').filter({ hasText: 'Copied 20 lines' }).waitFor()
  const copied = await page.evaluate(() => navigator.clipboard.readText())
  t.equal(copied, Array.from({ length: 20 }, (_, i) => `[alpha] warn ${(i + 1) * 10}\n`).join(''))

  // Search finds a line and brings it into view.
  await page.getByTestId('filter-stream').selectOption('')
  await page.getByTestId('output-search').fill('early 37')
  await page.getByTestId('output-search').press('Enter')
  await page.getByTestId('match-count').filter({ hasText: '1 of 1' }).waitFor()
  t.equal(await page.locator('.current-match').textContent().then((s) => s?.includes('early 37')), true, 'the match is shown and marked')

  // Download: the raw output, as GET /api/executions/:id/output has it.
  const [download] = await Promise.all([page.waitForEvent('download'), page.getByTestId('download-output').click()])
  t.equal(download.suggestedFilename(), `execution-${executionId}.log`)
  const raw = readFileSync((await download.path())!, 'utf8')
  t.equal(raw, await (await fetch(`${ctx.url}/api/executions/${executionId}/output`)).text())
  t.match(raw, /\[beta\] late 50\n/)

  // Re-run: every target succeeded, so only "all" is offered.
  t.ok(await page.getByTestId('rerun-failed').isDisabled(), 'nothing failed')
  writeFileSync(gate, '')
  await page.getByTestId('rerun-all').click()
  await page.waitForURL((url) => /\/executions\/[0-9a-f-]{36}$/.test(url.pathname) && !url.pathname.endsWith(executionId))
  await page.getByRole('link', { name: executionId.slice(0, 8) }).waitFor()
  t.equal(await waitStatus(page, 'success'), 'success', 'the re-run ran')
  t.same(watch.problems(), [])
})

t.test('a failed target can be re-run alone from the viewer', { skip: noChromium }, async (t) => {
  const ctx = await build(t, { listen: true })
  const res = await fetch(`${ctx.url}/api/commands`, {
    method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ targets: ['alpha', 'unreachable1'], command: 'echo hi', expertMode: true })
  })
  const { executionId } = await res.json() as { executionId: string }
  const page = await (await launch(t)).newPage()
  await page.goto(`${ctx.url}/executions/${executionId}`)
  t.equal(await waitStatus(page, 'partial', 'failed', 'success'), 'partial')
  await page.getByTestId('rerun-failed').click()
  await page.waitForURL((url) => !url.pathname.endsWith(executionId))
  await waitStatus(page, 'failed', 'partial', 'success')
  const id = page.url().split('/').pop()!
  const record = await (await fetch(`${ctx.url}/api/executions/${id}`)).json() as { targets: string[], rerunOf: string }
  t.same(record.targets, ['unreachable1'], 'only the failed target')
  t.equal(record.rerunOf, executionId)
})

t.test('a plan chosen from discovery runs from the run page with its parameter form', { skip: noChromium }, async (t) => {
  const ctx = await build(t, { listen: true })
  const page = await (await launch(t)).newPage()
  const watch = await watchPage(page)
  await page.goto(`${ctx.url}/run`)
  await page.getByTestId('kind-plan').check()
  await page.getByLabel('Plan to run').selectOption('demo::deploy')
  const version = page.getByLabel(/^version/)
  await version.waitFor()
  t.match(await version.getAttribute('placeholder'), /default: 1\.0/, 'the default is shown')
  t.equal(await page.getByLabel(/^targets/).getAttribute('required'), '', 'a parameter without a default is required')
  await page.getByLabel(/^targets/).fill('alpha')
  await version.fill('2.5')
  await page.getByTestId('run-submit').click()
  await page.waitForURL(/\/executions\/[0-9a-f-]{36}$/)
  t.equal(await waitStatus(page, 'success', 'failed'), 'success')
  await page.getByTestId('plan-result').waitFor()
  t.match(await page.getByTestId('plan-result').textContent(), /"version": "2.5"/, 'the plan\'s return value')
  t.ok((await lineTexts(page)).some((l) => l.includes('step 3')), 'the plan\'s output')
  t.same(watch.problems(), [])
})

t.test('a running execution is cancelled from the viewer; an unknown one says so', { skip: noChromium }, async (t) => {
  const ctx = await build(t, { listen: true })
  const gate = join(tempDir(t), 'never')
  const res = await fetch(`${ctx.url}/api/commands`, {
    method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ targets: ['alpha'], command: gatedCommand(gate, 'waiting', 'never printed'), expertMode: true })
  })
  const { executionId } = await res.json() as { executionId: string }
  const page = await (await launch(t)).newPage()
  await page.goto(`${ctx.url}/executions/${executionId}`)
  await page.getByTestId('output-line').filter({ hasText: 'waiting' }).waitFor()
  await page.getByRole('button', { name: 'Cancel' }).click()
  t.equal(await waitStatus(page, 'cancelled'), 'cancelled')
  t.equal(await page.getByRole('button', { name: 'Cancel' }).count(), 0, 'nothing left to cancel')
  t.equal(await page.getByTestId('output-line').filter({ hasText: 'never printed' }).count(), 0)

  await page.goto(`${ctx.url}/executions/3f1c2a4e-8d5b-4c1a-9e2f-7a6b5c4d3e2f`)
  await page.getByRole('heading', { name: 'Execution not found' }).waitFor()
  t.pass('an unknown execution is a page that says so')
})
