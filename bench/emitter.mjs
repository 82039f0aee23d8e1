#!/usr/bin/env node
// Benchmark output emitter: the process whose stdout the service (through the Bolt stand-in) and
// the raw baseline server both stream. Every line carries the moment it was written:
//
//   E <emitEpochMicros> <n> <padding>\n      (n counts from 1; the line is --size bytes with its newline)
//   M <emitEpochMicros> <padding>\n          (the marker line printed after --silence)
//
// Modes (one of):
//   --rate <lines/s> (--duration <s> | --count <n>)   paced lines
//   --lines <n>                                       n lines as fast as possible (64 KiB writes)
//   --bytes <n>                                       n bytes of lines as fast as possible
//   --idle <ms>                                       print nothing, exit after ms
// Options:
//   --size <bytes>      line length including the newline (default 100, at least 40)
//   --silence <ms>      after the main output, stay silent this long ...
//   --marker            ... then print one M line
//   --steady            paced mode: never catch up after a late timer; every gap is at least
//                       1/rate (so that downstream batching cannot merge two lines)
//   --gate <file>       wait (polling every 2 ms, at most 60 s) until the file exists before printing
//   --tag <token>       ignored; lets the harness find its own processes
//   --max-ms <ms>       hard limit on the whole run (default 180000)
//
// stdout is a pipe here, and pipe writes are synchronous in Node on Linux: the timestamp taken
// right before a write is the moment the bytes enter the pipe.
import { existsSync } from 'node:fs'

const args = process.argv.slice(2)
const opt = {}
for (let i = 0; i < args.length; i++) {
  const a = args[i]
  if (!a.startsWith('--')) throw new Error(`unexpected argument ${a}`)
  const name = a.slice(2)
  if (name === 'marker' || name === 'steady') opt[name] = true
  else opt[name] = args[++i]
}
const num = (name, def) => {
  if (opt[name] === undefined) return def
  const v = Number(opt[name])
  if (!Number.isFinite(v) || v < 0) throw new Error(`--${name} must be a non-negative number`)
  return v
}

const maxMs = num('max-ms', 180_000)
setTimeout(() => process.exit(3), maxMs).unref()

const size = Math.max(40, Math.floor(num('size', 100)))
const PAD = 'x'.repeat(size)
const nowMicros = () => Math.round((performance.timeOrigin + performance.now()) * 1000)
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms))

function line (micros, n) {
  const head = `E ${micros} ${n} `
  return head + PAD.slice(0, Math.max(1, size - 1 - head.length)) + '\n'
}

function write (text) {
  return new Promise((resolve) => {
    if (process.stdout.write(text)) resolve()
    else process.stdout.once('drain', resolve)
  })
}

async function gate () {
  if (opt.gate === undefined) return
  const deadline = Date.now() + 60_000
  while (!existsSync(opt.gate)) {
    if (Date.now() > deadline) process.exit(2)
    await sleep(2)
  }
}

async function paced (rate, count) {
  const interval = 1000 / rate
  const t0 = performance.now()
  let last = -Infinity
  for (let n = 1; n <= count; n++) {
    const due = opt.steady ? last + interval : t0 + (n - 1) * interval
    const wait = due - performance.now()
    if (wait > 0) await sleep(wait)
    last = performance.now()
    await write(line(nowMicros(), n))
  }
}

/** Lines as fast as the pipe takes them, ~64 KiB per write; stops at `maxLines` or `maxBytes`. */
async function burst (maxLines, maxBytes) {
  const perChunk = Math.max(1, Math.floor(65536 / size))
  let n = 0
  let bytes = 0
  while (n < maxLines && bytes < maxBytes) {
    const micros = nowMicros()
    const parts = []
    for (let i = 0; i < perChunk && n < maxLines && bytes < maxBytes; i++) {
      let l = line(micros, ++n)
      if (bytes + l.length > maxBytes) l = l.slice(0, Math.max(0, maxBytes - bytes - 1)) + '\n'
      parts.push(l)
      bytes += l.length
    }
    await write(parts.join(''))
  }
}

async function main () {
  if (opt.idle !== undefined) {
    await sleep(num('idle', 0))
    return
  }
  await gate()
  if (opt.rate !== undefined) {
    const rate = num('rate', 100)
    const count = opt.count !== undefined ? num('count', 0) : Math.round(rate * num('duration', 1))
    await paced(rate, count)
  } else if (opt.lines !== undefined) {
    await burst(num('lines', 0), Infinity)
  } else if (opt.bytes !== undefined) {
    await burst(Infinity, num('bytes', 0))
  }
  if (opt.silence !== undefined) await sleep(num('silence', 0))
  if (opt.marker) {
    const head = `M ${nowMicros()} `
    await write(head + PAD.slice(0, Math.max(1, size - 1 - head.length)) + '\n')
  }
}

await main()
