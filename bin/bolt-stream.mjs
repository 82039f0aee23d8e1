#!/usr/bin/env node
// The bolt-stream CLI. In a checkout (after `npm ci`) it runs the TypeScript sources through tsx;
// an installed package without tsx runs the compiled dist/cli (`npm run build`).
import { existsSync } from 'node:fs'

const source = new URL('../cli/main.ts', import.meta.url)
let main
if (existsSync(source) && await import('tsx/esm/api').then(({ register }) => { register(); return true }, () => false)) {
  ({ main } = await import(source.href))
} else {
  ({ main } = await import(new URL('../dist/cli/main.js', import.meta.url).href))
}

// Ctrl-C stops a follow (exit 130); the execution goes on. A second Ctrl-C exits at once.
const interrupt = new AbortController()
process.once('SIGINT', () => {
  interrupt.abort()
  process.once('SIGINT', () => process.exit(130))
})
const code = await main(process.argv.slice(2), {
  env: process.env,
  stdout: process.stdout,
  stderr: process.stderr,
  noColor: (process.env.NO_COLOR ?? '') !== '',
  interrupt: interrupt.signal
})
process.exitCode = code
// Ctrl-C while not following: stop now.
if (interrupt.signal.aborted) process.exitCode = 130
