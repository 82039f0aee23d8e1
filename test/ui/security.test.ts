/// <reference lib="dom" />
/// <reference lib="dom.iterable" />
// page.evaluate callbacks run in the browser: the DOM types.
import { readFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import t from 'tap'
import type { Page } from 'playwright-core'
import { build, makeTokens } from '../helper.js'
import { buildViewer, launch, lineTexts, noChromium, waitStatus, watchPage } from './browser.js'

// What a target prints is shown, never run; tokens stay out of URLs; every page passes axe-core.

if (noChromium === false) await buildViewer()

const AXE = readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8')

async function startCommand (url: string, command: string, headers: Record<string, string> = {}, targets = ['alpha']): Promise<string> {
  const res = await fetch(`${url}/api/commands`, {
    method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify({ targets, command, expertMode: true })
  })
  if (res.status !== 202) throw new Error(`POST /api/commands: ${res.status} ${await res.text()}`)
  return (await res.json() as { executionId: string }).executionId
}

t.test('markup and escape sequences a target prints are shown as text, never run', { skip: noChromium }, async (t) => {
  const ctx = await build(t, { listen: true })
  // printf turns \033 into ESC: an OSC 8 hyperlink to javascript:, an OSC 0 title, an OSC 52 clipboard write.
  const command = [
    'echo \'<img src=x onerror="window.pwned=1">\'',
    'echo \'<script>window.pwned=2</script><b>bold?</b>\' >&2',
    'printf \'\\033]8;;javascript:window.pwned=3\\033\\\\click me\\033]8;;\\033\\\\ end\\n\'',
    'printf \'\\033]0;pwned title\\007after title\\n\'',
    'printf \'\\033]52;c;cHduZWQ=\\007clipboard\\n\'',
    'printf \'\\033[31mred\\033[0m plain\\n\''
  ].join('; ')
  const id = await startCommand(ctx.url, command)
  const page = await (await launch(t)).newPage()
  const watch = await watchPage(page)
  await page.goto(`${ctx.url}/executions/${id}`)
  await waitStatus(page, 'success')
  await page.getByTestId('line-count').filter({ hasText: /^6 lines \(exact\)$/ }).waitFor()

  const texts = await lineTexts(page)
  t.ok(texts.includes('<img src=x onerror="window.pwned=1">'), 'the markup is shown as it was printed')
  t.ok(texts.includes('<script>window.pwned=2</script><b>bold?</b>'))
  t.ok(texts.includes('click me end'), 'the hyperlink\'s text is shown, its target dropped')
  t.ok(texts.includes('after title') && texts.includes('clipboard'))
  t.ok(texts.includes('red plain'), 'colours are rendered, the escapes are not shown')
  const viewport = page.getByTestId('output-viewport')
  t.equal(await viewport.locator('img, script, b, a, iframe').count(), 0, 'no element came from the output')
  t.equal(await page.evaluate(() => (window as unknown as { pwned?: number }).pwned), undefined, 'nothing ran')
  t.match(await page.title(), /bolt-stream$/, 'the title is the page\'s own')
  t.equal(await viewport.locator('span', { hasText: /^red$/ }).evaluate((el) => getComputedStyle(el).color), 'rgb(187, 0, 0)', 'ANSI red')
  await viewport.getByText('click me end').click()
  t.equal(await page.evaluate(() => (window as unknown as { pwned?: number }).pwned), undefined, 'clicking the text does nothing')
  t.same(watch.dialogs(), [])
  t.same(watch.problems(), [], 'no error, no CSP violation')
})

t.test('a pasted token is kept in sessionStorage, sent as a header, never in a URL', { skip: noChromium }, async (t) => {
  const tokens = makeTokens({ ops: ['read', 'execute', 'expert'] })
  const ctx = await build(t, { listen: true, env: { AUTH_TOKENS: tokens.env } })
  const page = await (await launch(t)).newPage()
  const watch = await watchPage(page)
  const urls: string[] = []
  page.on('request', (request) => urls.push(request.url()))

  await page.goto(`${ctx.url}/executions`)
  await page.getByRole('alert').filter({ hasText: 'BOLT_STREAM_UNAUTHORIZED' }).waitFor()
  await page.getByLabel('API token', { exact: true }).fill(tokens.token.ops)
  await page.getByRole('button', { name: 'Use token' }).click()
  await page.getByTestId('token-state').waitFor()
  await page.getByTestId('executions-table').waitFor()
  t.equal(await page.getByRole('alert').count(), 0, 'the list loads with the token')
  t.equal(await page.evaluate(() => sessionStorage.getItem('bolt-stream.token')), tokens.token.ops)

  // A run from the page, streamed with a ticket (EventSource sends no header).
  await page.goto(`${ctx.url}/run`)
  await page.getByLabel('Command to run').fill('echo with a token')
  await page.getByLabel('Other targets').fill('alpha')
  await page.getByRole('button', { name: 'Add', exact: true }).click()
  await page.getByTestId('run-submit').click()
  await waitStatus(page, 'success')
  await page.getByTestId('output-line').getByText('with a token').waitFor()
  t.ok(urls.some((u) => /\/stream\?ticket=/.test(u)), 'the stream opened with a ticket')
  t.notOk(urls.some((u) => u.includes(tokens.token.ops)), 'the token is in no URL')
  t.notOk(page.url().includes(tokens.token.ops))

  await page.getByRole('button', { name: 'Forget token' }).click()
  t.equal(await page.evaluate(() => sessionStorage.getItem('bolt-stream.token')), null)
  t.same(watch.problems(), [])
})

async function axe (page: Page): Promise<Array<{ id: string, impact: string, nodes: number, help: string }>> {
  // Evaluated through the DevTools protocol, so the page's CSP (no inline script) does not apply to it.
  await page.evaluate(AXE)
  return page.evaluate(async () => {
    const results = await (window as unknown as { axe: { run: (ctx: Document, o: object) => Promise<{ violations: Array<{ id: string, impact: string, nodes: unknown[], help: string }> }> } })
      .axe.run(document, { resultTypes: ['violations'] })
    return results.violations.map((v) => ({ id: v.id, impact: v.impact, nodes: v.nodes.length, help: v.help }))
  })
}

t.test('axe-core finds nothing serious or critical on any page', { skip: noChromium }, async (t) => {
  const ctx = await build(t, { listen: true, env: { DEMO_MODE: 'true' } })
  const id = await startCommand(ctx.url, 'echo out; echo err >&2', {}, ['alpha', 'unreachable1'])
  const page = await (await launch(t)).newPage()
  const watch = await watchPage(page)
  const pages: Array<[string, () => Promise<unknown>]> = [
    ['/executions', () => page.getByTestId('execution-row').first().waitFor()],
    [`/executions/${id}`, () => page.getByTestId('results').waitFor()],
    ['/run', () => page.getByTestId('run-form').waitFor()],
    ['/targets', () => page.getByTestId('targets-table').waitFor()],
    ['/targets/unreachable1', () => page.getByText('Recent executions').waitFor()]
  ]
  for (const [path, ready] of pages) {
    await page.goto(`${ctx.url}${path}`)
    await ready()
    await page.getByTestId('demo-banner').filter({ hasText: 'demo: commands run on this machine through a Bolt stand-in' }).waitFor()
    const violations = await axe(page)
    const serious = violations.filter((v) => v.impact === 'serious' || v.impact === 'critical')
    t.same(serious, [], `${path}: no serious or critical finding`)
    if (violations.length > serious.length) t.comment(`${path}: ${JSON.stringify(violations)}`)
  }
  // The run page with a task's parameter form open.
  await page.goto(`${ctx.url}/run?kind=task&item=demo::sleep`)
  await page.getByTestId('params').waitFor()
  t.same((await axe(page)).filter((v) => v.impact === 'serious' || v.impact === 'critical'), [], '/run with a parameter form')
  t.same(watch.problems(), [])
})

t.test('the run form is built from a task\'s parameters and usable with the keyboard', { skip: noChromium }, async (t) => {
  const ctx = await build(t, { listen: true })
  const page = await (await launch(t)).newPage()
  await page.goto(`${ctx.url}/run`)
  await page.getByTestId('kind-command').focus()
  await page.keyboard.press('ArrowRight')
  t.ok(await page.getByTestId('kind-task').isChecked(), 'the kind is chosen with the arrow keys')
  await page.getByLabel('Task to run').selectOption('demo::sleep')
  const ms = page.getByLabel(/^ms/)
  await ms.waitFor()
  t.equal(await ms.getAttribute('type'), 'number', 'an Integer parameter is a number field')
  t.equal(await ms.getAttribute('required'), null, 'an Optional one is not required')
  t.match(await ms.getAttribute('placeholder'), /default: 1000/)
  await ms.fill('300')
  await page.getByLabel('Other targets').fill('alpha')
  await page.getByLabel('Other targets').press('Enter')
  await page.getByTestId('run-submit').focus()
  await page.keyboard.press('Enter')
  await page.waitForURL(/\/executions\//).catch(async (err) => {
    throw new Error(`${(err as Error).message}: ${await page.locator('main').innerText()}`)
  })
  t.equal(await waitStatus(page, 'success'), 'success')
  const id = page.url().split('/').pop()!
  const record = await (await fetch(`${ctx.url}/api/executions/${id}`)).json() as { request: { task: string, params: unknown } }
  t.same(record.request, { task: 'demo::sleep', params: { ms: 300 }, redacted: false }, 'the parameter went as an integer')
})
