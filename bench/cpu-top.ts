// Top self-time functions of a V8 .cpuprofile (written by `node --cpu-prof`).
//
//   npx tsx bench/cpu-top.ts <file.cpuprofile> [n]
//
// Self time of a node = hitCount × sampling interval ((endTime - startTime) / samples); summed per
// functionName + url (+ line, so two anonymous functions of one file stay apart).
import { readFileSync } from 'node:fs'
import { relative } from 'node:path'
import { fileURLToPath } from 'node:url'

interface ProfileNode {
  id: number
  callFrame: { functionName: string, url: string, lineNumber: number }
  hitCount?: number
}
interface Profile { nodes: ProfileNode[], startTime: number, endTime: number, samples: number[] }

export interface TopEntry { function: string, where: string, selfMs: number, percent: number }

const ROOT = fileURLToPath(new URL('..', import.meta.url))

export function topSelfTime (file: string, n = 20): { totalMs: number, busyMs: number, top: TopEntry[] } {
  const profile = JSON.parse(readFileSync(file, 'utf8')) as Profile
  const totalUs = profile.endTime - profile.startTime
  const interval = profile.samples.length > 0 ? totalUs / profile.samples.length : 0
  const sums = new Map<string, TopEntry>()
  let idleUs = 0
  for (const node of profile.nodes) {
    const hits = node.hitCount ?? 0
    if (hits === 0) continue
    const { functionName, url, lineNumber } = node.callFrame
    const name = functionName === '' ? '(anonymous)' : functionName
    let where = url.startsWith('file://') ? relative(ROOT, fileURLToPath(url)) : url
    if (where !== '') where += `:${lineNumber + 1}`
    const key = `${name}\u0000${where}`
    const us = hits * interval
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
  console.log(formatTop(topSelfTime(file, Number(process.argv[3] ?? 20))))
}
