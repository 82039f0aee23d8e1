import { connect } from 'node:net'
import t from 'tap'
import { build, makeTokens } from '../helper.js'

// Requests Node's HTTP parser refuses never reach Fastify's routes or error handler; they are
// answered by the server's clientErrorHandler, in the API's shape. Raw bytes over a real socket.

interface RawAnswer { status: number, headers: Record<string, string>, body: string }

/**
 * Writes each of `parts` in turn (the next once an answer to the previous has arrived), reads
 * until the server closes the connection, and parses the answers.
 */
async function exchange (port: number, ...parts: string[]): Promise<RawAnswer[]> {
  const raw = await new Promise<string>((resolve, reject) => {
    const socket = connect(port, '127.0.0.1')
    let text = ''
    const queue = [...parts]
    socket.setEncoding('latin1')
    socket.on('data', (chunk: string) => {
      text += chunk
      const next = queue.shift()
      if (next !== undefined) socket.write(next, 'latin1')
    })
    socket.once('close', () => resolve(text))
    socket.once('error', reject)
    socket.write(queue.shift() ?? '', 'latin1')
  })
  return parseAnswers(raw)
}

function parseAnswers (raw: string): RawAnswer[] {
  const answers: RawAnswer[] = []
  let rest = raw
  while (rest.startsWith('HTTP/1.1 ')) {
    const head = rest.slice(0, rest.indexOf('\r\n\r\n'))
    const [statusLine, ...lines] = head.split('\r\n')
    const headers = Object.fromEntries(lines.map((l) => [l.slice(0, l.indexOf(':')).toLowerCase(), l.slice(l.indexOf(':') + 1).trim()]))
    const start = head.length + 4
    const length = Number(headers['content-length'])
    answers.push({ status: Number(statusLine.split(' ')[1]), headers, body: rest.slice(start, start + length) })
    rest = rest.slice(start + length)
  }
  return answers
}

const CASES: Array<[string, string, number, string, RegExp]> = [
  ['a malformed header (space in its name)', 'GET /health/live HTTP/1.1\r\nHost: x\r\nBad Header: 1\r\n\r\n', 400, 'BOLT_STREAM_MALFORMED_REQUEST', /header is malformed/],
  ['a garbage request line', 'HELLO THERE\r\n\r\n', 400, 'BOLT_STREAM_MALFORMED_REQUEST', /request line/],
  ['a bad HTTP version', 'GET / HTTP/9\r\n\r\n', 400, 'BOLT_STREAM_MALFORMED_REQUEST', /request line/],
  ['Content-Length: abc', 'POST /api/commands HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: abc\r\n\r\n{}', 400, 'BOLT_STREAM_MALFORMED_REQUEST', /Content-Length/],
  ['Content-Length and Transfer-Encoding both', 'POST /api/commands HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n{}', 400, 'BOLT_STREAM_MALFORMED_REQUEST', /Transfer-Encoding/],
  ['bad chunking', 'POST /api/commands HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n{}\r\n0\r\n\r\n', 400, 'BOLT_STREAM_MALFORMED_REQUEST', /chunked/],
  ['headers over 16 KiB', `GET /health/live HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(17 * 1024)}\r\n\r\n`, 431, 'BOLT_STREAM_HEADERS_TOO_LARGE', /exceed 16384 bytes/]
]

t.test('the HTTP parser\'s refusals answer {"error": {code, message}} and close the connection', async (t) => {
  const tokens = makeTokens({ ops: ['read', 'execute'] })
  const app = await build(t, { listen: true, captureLogs: true, env: { AUTH_TOKENS: tokens.env } })
  const port = Number(new URL(app.url).port)
  for (const [name, bytes, status, code, message] of CASES) {
    // The token rides along: the parser error's raw packet holds it, and it must not reach the logs.
    const withToken = bytes.replace('Host: x\r\n', `Host: x\r\nAuthorization: Bearer ${tokens.token.ops}\r\n`)
    const answers = await exchange(port, withToken)
    t.equal(answers.length, 1, `${name}: one answer`)
    const [answer] = answers
    t.equal(answer?.status, status, `${name}: ${status}`)
    t.match(answer?.headers['content-type'], /^application\/json/, `${name}: JSON`)
    t.equal(answer?.headers.connection, 'close', `${name}: the connection is closed`)
    const body = JSON.parse(answer?.body ?? 'null')
    t.same(Object.keys(body), ['error'], `${name}: only an error object`)
    t.same(Object.keys(body.error).sort(), ['code', 'message'], `${name}: code and message`)
    t.equal(body.error.code, code, `${name}: ${code}`)
    t.match(body.error.message, message, `${name}: the message says what was wrong`)
  }
  t.equal(app.spawns().length, 0, 'nothing ran')
  t.ok(app.logs().some((l) => l.msg === 'request rejected by the HTTP parser'), 'the refusals are logged')
  t.notMatch(app.logText(), tokens.token.ops, 'the token is in no log line')
})

t.test('a malformed request after a good one on the same connection gets its own JSON answer', async (t) => {
  const app = await build(t, { listen: true })
  const port = Number(new URL(app.url).port)
  // The second request is written once the first is answered (no response is then in flight).
  const answers = await exchange(port, 'GET /health/live HTTP/1.1\r\nHost: x\r\n\r\n', 'GET /health/live HTTP/1.1\r\nHost: x\r\nBad Header: 1\r\n\r\n')
  t.same(answers.map((a) => a.status), [200, 400], 'the good request, then the refusal')
  t.equal(JSON.parse(answers[1]?.body ?? 'null')?.error?.code, 'BOLT_STREAM_MALFORMED_REQUEST')
})
