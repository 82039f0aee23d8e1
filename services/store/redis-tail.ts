import type { Redis } from 'ioredis'
import { sleep } from './redis-connection.js'

// The live tail of every execution log this process follows, on ONE blocking connection: a
// single XREAD BLOCK names every stream someone waits on, each from the lowest cursor waiting on
// it. A waiter that the current XREAD does not cover (a new stream, an earlier cursor) interrupts
// it with CLIENT UNBLOCK from the command connection, and the next XREAD includes it.

/**
 * Longest a single XREAD blocks; waiters have timers of their own. Short, because an UNBLOCK that
 * reaches Redis before the XREAD it meant to end is lost, and its waiter waits for the next round.
 */
const BLOCK_MS = 1000

interface Waiter {
  afterSeq: number
  wake: (found: boolean) => void
}

export class RedisTail {
  private readonly waiters = new Map<string, Set<Waiter>>()
  /** What the XREAD under way covers (stream key → cursor), or null when none is. */
  private covering: Map<string, number> | null = null
  private looping = false
  private closed = false
  private readerId: number | null = null

  constructor (private readonly commands: Redis, private readonly reader: Redis) {
    const learnId = (): void => {
      this.readerId = null
      reader.client('ID').then((id) => { this.readerId = Number(id) }, () => {})
    }
    reader.on('ready', learnId)
    if (reader.status === 'ready') learnId()
  }

  /** Resolves true once `key` holds an entry after `<afterSeq>-0`, false after `timeoutMs` or an abort. */
  wait (key: string, afterSeq: number, timeoutMs: number, signal?: AbortSignal): Promise<boolean> {
    if (this.closed || signal?.aborted === true || timeoutMs <= 0) return Promise.resolve(false)
    return new Promise((resolve) => {
      let set = this.waiters.get(key)
      if (set === undefined) this.waiters.set(key, set = new Set())
      const waiter: Waiter = {
        afterSeq,
        wake: (found) => {
          clearTimeout(timer)
          signal?.removeEventListener('abort', onAbort)
          const current = this.waiters.get(key)
          current?.delete(waiter)
          if (current?.size === 0) this.waiters.delete(key)
          resolve(found)
        }
      }
      const onAbort = (): void => waiter.wake(false)
      const timer = setTimeout(onAbort, timeoutMs)
      timer.unref()
      signal?.addEventListener('abort', onAbort, { once: true })
      set.add(waiter)
      this.kick(key, afterSeq)
    })
  }

  /** Waiters in all, for tests and stats. */
  get size (): number {
    let n = 0
    for (const set of this.waiters.values()) n += set.size
    return n
  }

  close (): void {
    this.closed = true
    for (const set of [...this.waiters.values()]) for (const w of [...set]) w.wake(false)
  }

  private kick (key: string, afterSeq: number): void {
    if (!this.looping) {
      this.looping = true
      void this.loop()
      return
    }
    const covered = this.covering?.get(key)
    if (this.covering !== null && (covered === undefined || covered > afterSeq) && this.readerId !== null) {
      // The XREAD under way does not see this waiter's entries: end it now; the loop starts another.
      this.commands.client('UNBLOCK', this.readerId).catch(() => {})
    }
  }

  private async loop (): Promise<void> {
    try {
      while (!this.closed && this.waiters.size > 0) {
        const cursors = new Map<string, number>()
        for (const [key, set] of this.waiters) {
          let min = Infinity
          for (const w of set) min = Math.min(min, w.afterSeq)
          cursors.set(key, min)
        }
        this.covering = cursors
        let reply: Array<[string, Array<[string, string[]]>]> | null
        try {
          reply = await this.reader.xread('COUNT', 1, 'BLOCK', BLOCK_MS, 'STREAMS',
            ...cursors.keys(), ...[...cursors.values()].map((seq) => `${seq}-0`)) as typeof reply
        } catch {
          this.covering = null
          // Redis is away: the waiters' own timers end them; try again shortly.
          await sleep(200)
          continue
        }
        this.covering = null
        for (const [key, entries] of reply ?? []) {
          const seq = Number.parseInt(entries[entries.length - 1][0], 10)
          for (const w of [...this.waiters.get(key) ?? []]) {
            if (w.afterSeq < seq) w.wake(true)
          }
        }
      }
    } finally {
      this.looping = false
      this.covering = null
    }
    // A waiter that arrived as the loop was ending.
    if (!this.closed && this.waiters.size > 0) {
      this.looping = true
      void this.loop()
    }
  }
}
