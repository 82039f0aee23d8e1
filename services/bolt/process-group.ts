import { readFileSync, readlinkSync } from 'node:fs'
import { readdir, readFile } from 'node:fs/promises'

// Bolt runs in a process group of its own so that it and everything it started can be
// signalled together.

export function signalGroup (pgid: number, signal: NodeJS.Signals | 0): boolean {
  try {
    process.kill(-pgid, signal)
    return true
  } catch {
    return false // ESRCH: nothing left in the group
  }
}

/**
 * Whether a process of the group still runs. Zombies do not count: an orphan whose
 * reaper is slow (PID 1 without an init) must not keep the escalation going.
 */
export async function groupHasLiveProcess (pgid: number): Promise<boolean> {
  let entries: string[]
  try {
    entries = await readdir('/proc')
  } catch {
    return signalGroup(pgid, 0)
  }
  for (const entry of entries) {
    if (entry.charCodeAt(0) < 48 || entry.charCodeAt(0) > 57) continue
    let stat: string
    try {
      stat = await readFile(`/proc/${entry}/stat`, 'utf8')
    } catch {
      continue // exited meanwhile
    }
    // Fields after the command name, which may itself contain spaces and parentheses.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
    if (Number(fields[2]) === pgid && fields[0] !== 'Z' && fields[0] !== 'X') return true
  }
  return false
}

/**
 * The kernel boot and PID namespace of this process: a process group id recorded by an
 * earlier run only means the same group when both still match.
 */
export function processIdentity (): { bootId: string, pidNamespace: string } {
  let bootId = ''
  let pidNamespace = ''
  try { bootId = readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim() } catch {}
  try { pidNamespace = readlinkSync('/proc/self/ns/pid') } catch {}
  return { bootId, pidNamespace }
}

/** SIGTERM to the group, then SIGKILL if anything of it (zombies aside) remains after `graceMs`. */
export async function endGroup (pgid: number, graceMs: number): Promise<'gone' | 'terminated' | 'killed'> {
  if (!await groupHasLiveProcess(pgid)) return 'gone'
  signalGroup(pgid, 'SIGTERM')
  const deadline = Date.now() + graceMs
  while (Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 50))
    if (!await groupHasLiveProcess(pgid)) return 'terminated'
  }
  signalGroup(pgid, 'SIGKILL')
  return 'killed'
}
