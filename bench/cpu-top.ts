// Top self-time functions of a V8 .cpuprofile (written by `node --cpu-prof`).
//
//   npx tsx bench/cpu-top.ts <file.cpuprofile> [n] [fromMonoUs toMonoUs]
//
// Self time of a node = hitCount × sampling interval ((endTime - startTime) / samples), or, within a
// window, the time of the samples taken in it; summed per functionName + url (+ line, so two
// anonymous functions of one file stay apart).
import { readFileSync } from 'node:fs'
import { relative } from 'node:path'
import { fileURLToPath } from 'node:url'

interface ProfileNode {
  id: number
  callFrame: { functionName: string, url: string, lineNumber: number }
  hitCount?: number
}
interface Profile { nodes: ProfileNode[], startTime: number, endTime: number, samples: number[], timeDeltas: number[] }

export interface TopEntry { function: string, where: string, selfMs: number, percent: number }

const ROOT = fileURLToPath(new URL('..', import.meta.url))

/**
 * Self time per function. Without a window: hitCount × the mean sampling interval. With a window
 * (monotonic µs, the profile's own clock): the samples taken inside it, each counted for the time
 * since the previous sample.
 */
export function topSelfTime (file: string, n = 20, window?: { fromUs: number, toUs: number }): { totalMs: number, busyMs: number, top: TopEntry[] } {
  const profile = JSON.parse(readFileSync(file, 'utf8')) as Profile
  const selfUs = new Map<number, number>()
  let totalUs: number
  if (window === undefined) {
    totalUs = profile.endTime - profile.startTime
    const interval = profile.samples.length > 0 ? totalUs / profile.samples.length : 0
    for (const node of profile.nodes) selfUs.set(node.id, (node.hitCount ?? 0) * interval)
  } else {
    totalUs = 0
    let t = profile.startTime
    for (let i = 0; i < profile.samples.length; i++) {
      const delta = profile.timeDeltas[i] ?? 0
      t += delta
      if (t < window.fromUs || t > window.toUs) continue
      selfUs.set(profile.samples[i], (selfUs.get(profile.samples[i]) ?? 0) + delta)
      totalUs += delta
    }
  }
  const sums = new Map<string, TopEntry>()
  let idleUs = 0
  for (const node of profile.nodes) {
    const us = selfUs.get(node.id) ?? 0
    if (us === 0) continue
    const { functionName, url, lineNumber } = node.callFrame
    const name = functionName === '' ? '(anonymous)' : functionName
    let where = url.startsWith('file://') ? relative(ROOT, fileURLToPath(url)) : url
    if (where !== '') where += `:${lineNumber + 1}`
    const key = `${name}\u0000${where}`
    if (name === '(idle)') idleUs += us
    const entry = sums.get(key) ?? { function: name, where, selfMs: 0, percent: 0 }
    entry.selfMs += us / 1000
    sums.set(key, entry)
  }
  const busyMs = (totalUs - idleUs) / 1000
  const top = [...sums.values()]
    .filter((e) => e.function !== '(idle)')
    .sort((a, b) => b.selfMs - a.selfMs)
    .slice(0, n)
    .map((e) => ({ ...e, selfMs: Math.round(e.selfMs * 10) / 10, percent: busyMs > 0 ? Math.round((e.selfMs / busyMs) * 1000) / 10 : 0 }))
  return { totalMs: Math.round(totalUs / 1000), busyMs: Math.round(busyMs), top }
}

export function formatTop (result: ReturnType<typeof topSelfTime>): string {
  const lines = [`profile: ${result.totalMs} ms, ${result.busyMs} ms not idle; top self time (% of non-idle):`]
  for (const e of result.top) {
    lines.push(`${e.selfMs.toFixed(1).padStart(9)} ms ${e.percent.toFixed(1).padStart(5)}%  ${e.function}  ${e.where}`)
  }
  return lines.join('\n')
}

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1]) {
  const file = process.argv[2]
  if (file === undefined) {
    console.error('usage: tsx bench/cpu-top.ts <file.cpuprofile> [n]')
    process.exit(2)
  }
  const [from, to] = [process.argv[4], process.argv[5]]
  const window = from !== undefined && to !== undefined ? { fromUs: Number(from), toUs: Number(to) } : undefined
  console.log(formatTop(topSelfTime(file, Number(process.argv[3] ?? 20), window)))
}
