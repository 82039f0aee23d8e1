/** In-process wake-ups for `waitForEvents`, signalled after each append. */
export class AppendNotifier {
  private readonly waiters = new Map<string, Set<() => void>>()

  notify (id: string): void {
    const set = this.waiters.get(id)
    if (set === undefined) return
    this.waiters.delete(id)
    for (const wake of set) wake()
  }

  async wait (id: string, afterSeq: number, lastSeq: () => Promise<number>, timeoutMs: number, signal?: AbortSignal): Promise<boolean> {
    const deadline = Date.now() + timeoutMs
    for (;;) {
      if (await lastSeq() > afterSeq) return true
      const left = deadline - Date.now()
      if (left <= 0 || signal?.aborted === true) return false
      await new Promise<void>((resolve) => {
        let set = this.waiters.get(id)
        if (set === undefined) this.waiters.set(id, set = new Set())
        const done = (): void => {
          clearTimeout(timer)
          signal?.removeEventListener('abort', done)
          set.delete(done)
          resolve()
        }
        const timer = setTimeout(done, left)
        timer.unref()
        signal?.addEventListener('abort', done, { once: true })
        set.add(done)
      })
    }
  }
}
