/// <reference lib="dom" />
/// <reference lib="dom.iterable" />
// page.evaluate callbacks run in the browser: the DOM types.
import { writeFileSync } from 'node:fs'
import { createServer, connect, type Server, type Socket } from 'node:net'
import { join } from 'node:path'
import t from 'tap'
import { build, tempDir } from '../helper.js'
import { buildViewer, launch, lineTexts, noChromium, waitStatus, watchPage } from './browser.js'

// The viewer's stream across a cut connection, and 100,000 lines.

if (noChromium === false) await buildViewer()

/** A TCP proxy in front of the service whose connections the test can cut. */
async function cuttableProxy (t: { teardown: (fn: () => unknown) => void }, target: string): Promise<{ url: string, cut: () => number }> {
  const { hostname, port } = new URL(target)
  const sockets = new Set<Socket>()
  const server: Server = createServer((client) => {
    const upstream = connect(Number(port), hostname)
    for (const s of [client, upstream]) {
      sockets.add(s)
      s.on('close', () => sockets.delete(s))
      s.on('error', () => {})
    }
    client.pipe(upstream).pipe(client)
    client.on('close', () => upstream.destroy())
    upstream.on('close', () => client.destroy())
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  t.teardown(() => new Promise<void>((resolve) => {
    for (const s of sockets) s.destroy()
    server.close(() => resolve())
  }))
  const address = server.address() as { port: number }
  return {
    url: `http://127.0.0.1:${address.port}`,
    cut: () => {
      const n = sockets.size
      for (const s of sockets) s.destroy()
      return n
    }
  }
}

t.test('a cut connection resumes where it stopped: no line lost, none twice', { skip: noChromium }, async (t) => {
  const ctx = await build(t, { listen: true })
  const proxy = await cuttableProxy(t, ctx.url)
  const dir = tempDir(t)
  const [gate1, gate2] = [join(dir, 'one'), join(dir, 'two')]
  const wait = (f: string): string => `while [ ! -f '${f}' ]; do sleep 0.05; done`
  const command = `for i in 1 2 3; do echo "before $i"; done; ${wait(gate1)}; for i in 1 2 3; do echo "after $i"; done; ${wait(gate2)}`
  const res = await fetch(`${ctx.url}/api/commands`, {
    method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ targets: ['alpha'], command, expertMode: true })
  })
  const { executionId } = await res.json() as { executionId: string }

  const page = await (await launch(t)).newPage()
  const watch = await watchPage(page)
  await page.goto(`${proxy.url}/executions/${executionId}`)
  await page.getByTestId('line-count').filter({ hasText: /^3 lines$/ }).waitFor()
  // Every state the connection indicator goes through, from now on.
  await page.evaluate(() => {
    const seen: string[] = []
    ;(window as unknown as { connectionStates: string[] }).connectionStates = seen
    const node = document.querySelector('[data-testid="connection-state"]')!
    new MutationObserver(() => seen.push(node.textContent ?? '')).observe(node, { childList: true, characterData: true, subtree: true })
  })

  t.ok(proxy.cut() > 0, 'the stream connection is cut')
  await page.waitForFunction(() => (window as unknown as { connectionStates: string[] }).connectionStates.some((s) => s.startsWith('connection lost')))
  await page.getByTestId('connection-state').filter({ hasText: /^live$/ }).waitFor()
  writeFileSync(gate1, '')
  await page.getByTestId('line-count').filter({ hasText: /^6 lines$/ }).waitFor()
  t.same(await lineTexts(page), ['before 1', 'before 2', 'before 3', 'after 1', 'after 2', 'after 3'],
    'the live lines after the resume: every line once, in order')
  t.equal(await page.getByTestId('execution-status').textContent(), 'running')

  writeFileSync(gate2, '')
  t.equal(await waitStatus(page, 'success'), 'success')
  t.same(await lineTexts(page), ['before 1', 'before 2', 'before 3', 'after 1', 'after 2', 'after 3'])
  t.same(watch.problems(), [])
})

t.test('100,000 lines: rendered, scrolled and searched with only the visible rows in the page', { skip: noChromium }, async (t) => {
  const ctx = await build(t, { listen: true, env: { MAX_OUTPUT_BYTES: String(64 * 1024 * 1024) } })
  const command = "awk 'BEGIN { for (i = 1; i <= 100000; i++) printf \"line %06d of the big output\\n\", i }'"
  const res = await fetch(`${ctx.url}/api/commands`, {
    method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ targets: ['alpha'], command, expertMode: true })
  })
  const { executionId } = await res.json() as { executionId: string }
  const page = await (await launch(t)).newPage()
  const watch = await watchPage(page)

  // Live: the page is open while the lines arrive.
  const liveStart = performance.now()
  await page.goto(`${ctx.url}/executions/${executionId}`)
  await waitStatus(page, 'success')
  await page.getByTestId('line-count').filter({ hasText: /^100,000 lines \(exact\)$/ }).waitFor({ timeout: 60_000 })
  await page.getByText('line 100000 of the big output').waitFor()
  const live = performance.now() - liveStart

  // Finished: a fresh page replays them all.
  const loadStart = performance.now()
  await page.reload()
  await page.getByTestId('line-count').filter({ hasText: /^100,000 lines \(exact\)$/ }).waitFor({ timeout: 60_000 })
  await page.getByText('line 100000 of the big output').waitFor()
  const load = performance.now() - loadStart
  const rows = await page.getByTestId('output-line').count()
  t.ok(rows > 0 && rows < 200, `only the visible rows are in the page (${rows})`)

  const viewport = page.getByTestId('output-viewport')
  const scrollStart = performance.now()
  await viewport.evaluate((el) => { el.scrollTop = 0 })
  await page.getByText('line 000001 of the big output').waitFor()
  const scroll = performance.now() - scrollStart
  await page.getByTestId('jump-to-live').waitFor()

  const jumpStart = performance.now()
  await page.getByTestId('jump-to-live').click()
  await page.getByText('line 100000 of the big output').waitFor()
  const jump = performance.now() - jumpStart

  const searchStart = performance.now()
  await page.getByTestId('output-search').fill('line 054321')
  await page.getByTestId('output-search').press('Enter')
  await page.locator('.current-match', { hasText: 'line 054321 of the big output' }).waitFor()
  const search = performance.now() - searchStart

  // A frame while scrolling through the middle takes no longer than a frame should.
  const frame = await viewport.evaluate(async (el) => {
    const times: number[] = []
    for (let i = 0; i < 30; i++) {
      const start = performance.now()
      el.scrollTop += 2000
      await new Promise((resolve) => requestAnimationFrame(() => requestAnimationFrame(resolve)))
      times.push(performance.now() - start)
    }
    return times.sort((a, b) => a - b)[Math.floor(times.length / 2)]
  })

  const figures = `100,000 lines: live run shown in ${Math.round(live)} ms, finished page loaded and rendered in ${Math.round(load)} ms, ` +
    `scroll to top ${Math.round(scroll)} ms, jump to live ${Math.round(jump)} ms, search and reveal ${Math.round(search)} ms, ` +
    `median scroll step ${frame.toFixed(1)} ms (two frames)`
  t.comment(figures)
  console.log(`# ${figures}`)
  t.ok(scroll < 5000 && jump < 5000, 'scrolling and jumping stay interactive')
  t.ok(frame < 500, 'a scroll step renders quickly')
  t.same(watch.problems(), [])
})
