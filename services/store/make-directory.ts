import { mkdirSync, statSync } from 'node:fs'
import { dirname } from 'node:path'

/**
 * `mkdir -p` that always ends. Node's `mkdirSync(…, { recursive: true })` loops forever when a
 * parent exists but refuses children with ENOENT (`/proc/no-such-dir`); here each directory is
 * made once, from the nearest existing ancestor down, and the first refusal is thrown.
 */
export function makeDirectory (dir: string): void {
  try {
    mkdirSync(dir)
    return
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code
    if (code === 'EEXIST') {
      if (!statSync(dir).isDirectory()) throw new Error(`'${dir}' exists and is not a directory`)
      return
    }
    const parent = dirname(dir)
    if (code !== 'ENOENT' || parent === dir) throw err
    makeDirectory(parent)
  }
  // The parent exists now: a second refusal is final.
  mkdirSync(dir)
}
