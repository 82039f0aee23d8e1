/** Page cursors of both stores: the position of the last execution of the page. */
export function encodeCursor (position: number): string {
  return Buffer.from(`p:${position}`).toString('base64url')
}

export function decodeCursor (cursor: string): number | null {
  const m = /^p:(\d{1,15})$/.exec(Buffer.from(cursor, 'base64url').toString('utf8'))
  return m === null ? null : Number(m[1])
}
