import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { chromium } from 'playwright-core'
import { startDemo } from '../demo/demo-service.js'

// `npm run screenshot`: runs the demo, starts the demo deploy task on the web and db groups and
// captures the viewer mid-run into docs/viewer.png (the README shows it).

const OUT = fileURLToPath(new URL('../docs/viewer.png', import.meta.url))
const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium'
const ARGS = [
  '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync'
]

const demo = await startDemo({ ...process.env, PORT: '0' })
const profile = mkdtempSync(join(tmpdir(), 'bolt-stream-screenshot-'))
try {
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM, args: ARGS, viewport: { width: 1280, height: 860 }, deviceScaleFactor: 1
  })
  const page = await context.newPage()
  await page.goto(`${demo.url}run?kind=task&item=fleet::deploy&target=web&target=db1`)
  await page.getByLabel(/^version/).fill('2.4.1')
  await page.getByLabel(/^steps/).fill('12')
  await page.getByTestId('run-submit').click()
  await page.waitForURL(/\/executions\//)
  // Mid-run: a few steps done on every target, the status still running.
  await page.waitForFunction(() => document.querySelectorAll('[data-testid="output-line"]').length >= 16)
  await page.screenshot({ path: OUT })
  console.log(`wrote ${OUT}`)
  await context.close()
} finally {
  rmSync(profile, { recursive: true, force: true })
  await demo.stop()
}
