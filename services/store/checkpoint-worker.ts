import { parentPort, workerData } from 'node:worker_threads'
import Database from 'better-sqlite3'

// Checkpointing copies the WAL into the database file: for a large output, hundreds of
// milliseconds of synchronous work. This worker thread does it on a second connection, so the
// event loop never waits for it (PASSIVE: it never blocks the writer either). Any message
// from the parent closes it.

export interface CheckpointWorkerData {
  path: string
  intervalMs: number
}

const { path, intervalMs } = workerData as CheckpointWorkerData
const db = new Database(path)
db.pragma('busy_timeout = 5000')
const timer = setInterval(() => {
  try { db.pragma('wal_checkpoint(PASSIVE)') } catch { /* the next one tries again */ }
}, intervalMs)
parentPort?.once('message', () => {
  clearInterval(timer)
  try { db.close() } catch { /* closing anyway */ }
  parentPort?.close()
})
