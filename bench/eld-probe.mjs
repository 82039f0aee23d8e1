// Preloaded (`node --import`) into the service and into the raw baseline server by the benchmark.
// Measures the process's event-loop delay with perf_hooks.monitorEventLoopDelay (10 ms resolution).
//
// On SIGWINCH it closes the current measurement window: it takes the histogram's p50/p99/max, runs a
// full GC when the process was started with --expose-gc (so the RSS the harness reads next holds
// live memory, not garbage), resets the histogram, and writes the window's figures as JSON to the
// file named by BENCH_ELD_FILE. The harness deletes the file, sends the signal, and waits for it.
// The window's end and the next one's start are given on the monotonic clock (µs), which is the
// clock of `--cpu-prof` profiles.
//
// Why SIGWINCH: SIGUSR2 is one of the signals close-with-grace turns into a graceful shutdown of the
// service, and SIGUSR1 is Node's "start the inspector" signal. SIGWINCH is ignored by default and
// nothing in the service listens to it.
import { writeFileSync, renameSync } from 'node:fs'
import { monitorEventLoopDelay } from 'node:perf_hooks'

const file = process.env.BENCH_ELD_FILE
if (file) {
  const histogram = monitorEventLoopDelay({ resolution: 10 })
  histogram.enable()
  let since = performance.now()
  let windows = 0
  const ms = (ns) => Math.round(ns / 1e4) / 100
  // CLOCK_MONOTONIC in µs: the clock of V8's CPU profiles, so a window can be cut out of one.
  const monoUs = () => Number(process.hrtime.bigint() / 1000n)
  process.on('SIGWINCH', () => {
    const snapshot = {
      endMonoUs: monoUs(),
      window: ++windows,
      windowMs: Math.round(performance.now() - since),
      samples: histogram.count,
      p50: ms(histogram.percentile(50)),
      p99: ms(histogram.percentile(99)),
      max: ms(histogram.max),
      mean: ms(histogram.mean),
      rssBeforeGc: process.memoryUsage.rss()
    }
    const gc = globalThis.gc
    if (typeof gc === 'function') gc()
    // The GC pause lands in the histogram one tick later: reset after it.
    setTimeout(() => {
      histogram.reset()
      since = performance.now()
      const mem = process.memoryUsage()
      const out = { ...snapshot, nextStartMonoUs: monoUs(), rssAfterGc: mem.rss, heapUsed: mem.heapUsed, external: mem.external, pid: process.pid }
      writeFileSync(`${file}.tmp`, JSON.stringify(out))
      renameSync(`${file}.tmp`, file)
    }, 20)
  })
}
