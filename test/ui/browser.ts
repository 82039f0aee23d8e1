/// <reference lib="dom" />
/// <reference lib="dom.iterable" />
// page.evaluate callbacks run in the browser: the DOM types.
import { spawnSync } from 'node:child_process'
import { existsSync, mkdirSync, readdirSync, rmSync, statSync, watch, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core'
import tap from 'tap'
import { ROOT } from '../helper.js'

// Real headless Chromium for the viewer's tests (Debian package `chromium`), against the real
// service on a real port, with the viewer built once: the first test file that finds the build
// older than its sources builds it, under a lock, while the others wait for the lock.

export const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium'
/** Where the tests leave screenshots (gitignored). */
export const ARTIFACTS = join(ROOT, 'test-artifacts')

/** A `skip` reason when Chromium is missing, else false. */
export const noChromium: string | false = existsSync(CHROMIUM)
  ? false
  : `needs Chromium at ${CHROMIUM}: install the Debian package chromium (apt-get install -y chromium)`

const VIEWER_DIR = join(ROOT, 'ui', 'dist')
const SOURCES = ['ui/src', 'ui/index.html', 'ui/vite.config.ts', 'ui/public', 'client', 'schemas']
const LOCK = join(ROOT, 'ui', '.build.lock')

function newestSource (path: string): number {
  const stat = statSync(path)
  if (!stat.isDirectory()) return stat.mtimeMs
  return Math.max(stat.mtimeMs, ...readdirSync(path).map((name) => newestSource(join(path, name))))
}

function isStale (): boolean {
  const index = join(VIEWER_DIR, 'index.html')
  if (!existsSync(index)) return true
  const built = statSync(index).mtimeMs
  return SOURCES.some((s) => existsSync(join(ROOT, s)) && newestSource(join(ROOT, s)) > built)
}

/** Resolves when `path` is gone (the lock released), watching its directory. */
function whenRemoved (path: string, timeoutMs: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const watcher = watch(join(path, '..'))
    const done = (err?: Error): void => {
      clearTimeout(timer)
      watcher.close()
      if (err === undefined) resolve()
      else reject(err)
    }
    const timer = setTimeout(() => done(new Error(`the viewer build lock ${path} was held for ${timeoutMs} ms`)), timeoutMs)
    watcher.on('change', () => { if (!existsSync(path)) done() })
    if (!existsSync(path)) done()
  })
}

/** Builds ui/ into ui/dist unless it is up to date; one builder at a time across test files. */
export async function buildViewer (): Promise<void> {
  for (;;) {
    if (!isStale()) return
    try {
      mkdirSync(LOCK)
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err
      await whenRemoved(LOCK, 180_000)
      continue
    }
    try {
      writeFileSync(join(LOCK, 'pid'), String(process.pid))
      if (!isStale()) return
      const result = spawnSync('npx', ['vite', 'build', '--config', 'ui/vite.config.ts', '--logLevel', 'warn'], { cwd: ROOT, encoding: 'utf8' })
      if (result.status !== 0) throw new Error(`the viewer build failed:\n${result.stdout}\n${result.stderr}`)
      return
    } finally {
      rmSync(LOCK, { recursive: true, force: true })
    }
  }
}

interface Teardown { teardown: (fn: () => unknown) => void }

export const CHROMIUM_ARGS = [
  '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync'
]

let shared: Promise<Browser> | null = null

/** The file's one Chromium (a fresh profile directory of its own), closed when the file ends. */
function fileBrowser (): Promise<Browser> {
  if (shared === null) {
    const launching = chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS })
    shared = launching
    tap.teardown(async () => { await (await launching).close() })
  }
  return shared
}

/**
 * A fresh browser context (its own cookies, storage and permissions) in the file's Chromium,
 * closed at teardown: each test starts as a new visitor, without a Chromium start of its own.
 */
export async function launch (t: Teardown, options: { origin?: string } = {}): Promise<BrowserContext> {
  const context = await (await fileBrowser()).newContext({ viewport: { width: 1280, height: 900 }, acceptDownloads: true })
  t.teardown(() => context.close())
  if (options.origin !== undefined) await context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: options.origin })
  return context
}

export interface PageWatch {
  /** Uncaught errors and CSP violations seen so far. */
  problems: () => string[]
  /** window.alert/confirm/prompt calls. */
  dialogs: () => string[]
}

/** Records what must never happen on a page: errors, CSP violations, dialogs. */
export async function watchPage (page: Page): Promise<PageWatch> {
  const problems: string[] = []
  const dialogs: string[] = []
  page.on('pageerror', (err) => problems.push(`page error: ${err.message}`))
  page.on('dialog', (dialog) => { dialogs.push(dialog.message()); void dialog.dismiss() })
  page.on('console', (message) => {
    if (message.type() === 'error' && /Content Security Policy|Refused to/i.test(message.text())) problems.push(`console: ${message.text()}`)
  })
  await page.addInitScript(() => {
    document.addEventListener('securitypolicyviolation', (e) => {
      console.error(`Refused to load: CSP violation of ${e.violatedDirective} by ${e.blockedURI}`)
    })
  })
  return { problems: () => [...problems], dialogs: () => [...dialogs] }
}

/** The rendered output lines' text (the line's own text, without the target and stream columns). */
export async function lineTexts (page: Page): Promise<string[]> {
  return page.$$eval('[data-testid="output-line"] .line-text', (nodes) => nodes.map((n) => n.textContent ?? ''))
}

/** Waits for the execution status element to show one of `statuses`. */
export async function waitStatus (page: Page, ...statuses: string[]): Promise<string> {
  const handle = await page.waitForFunction((wanted) => {
    const text = document.querySelector('[data-testid="execution-status"]')?.textContent ?? ''
    return wanted.includes(text) ? text : false
  }, statuses, { timeout: 30_000 })
  return await handle.jsonValue() as string
}

/** A shell command that prints `before`, waits until `file` exists, then prints `after`. */
export function gatedCommand (file: string, before: string, after: string): string {
  return `echo '${before}'; while [ ! -f '${file}' ]; do sleep 0.05; done; echo '${after}'`
}
