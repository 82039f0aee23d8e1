/**
 * The streaming callbacks an execution reports to (the seed's interface, with the target added
 * so per-target output stays apart).
 */
export interface StreamingCallback {
  onCommand?: (command: string) => void
  onStdout?: (chunk: string, target: string | null) => void
  onStderr?: (chunk: string, target: string | null) => void
  /** Output reached the execution's byte limit; nothing more will be reported. */
  onTruncated?: (message: string) => void
  /** Deliver everything held back; called before the truncation marker and the terminal event. */
  flush?: () => void
}
