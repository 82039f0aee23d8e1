import { existsSync } from 'node:fs'
import t from 'tap'
import { build } from '../helper.js'
import { BIN, cli, start } from './run-cli.js'

t.test('on a terminal: colours, and control sequences from the output removed', { skip: existsSync('/usr/bin/script') ? false : 'needs script(1) (Debian package bsdutils)' }, async (t) => {
  const { url } = await build(t, { listen: true })
  const env = { BOLT_STREAM_URL: url }
  const hostile = 'printf "\\033[2J\\033]0;owned\\007clean\\rtext\\n"'
  const plain = await cli(['run', 'command', hostile, '-t', 'a', '-f'], env)
  t.match(plain.stdout, '\u001b[2J', 'not a terminal: the output as printed')
  // script(1) gives the CLI a real pseudo-terminal.
  const command = `${process.execPath} ${BIN} run command '${hostile.replace(/'/g, "'\\''")}' -t a -f`
  const tty = await start([], env, ['script', '-qfec', command, '/dev/null']).done
  t.equal(tty.code, 0, tty.stdout)
  t.notMatch(tty.stdout, '\u001b[2J', 'no screen clearing')
  t.notMatch(tty.stdout, '\u001b]0;', 'no window title')
  t.ok(tty.stdout.includes('[a] \u001b[22mcleantext'), 'the text kept, the carriage return gone')
  t.match(tty.stdout, '\u001b[1m[a] ', 'prefixes in bold')
  t.match(tty.stdout, '\u001b[32msuccess', 'statuses in colour')
})

t.test('npx bolt-stream runs from the checkout without a build', async (t) => {
  // The launcher prefers the sources (through tsx) over dist/, so this holds with or without a build.
  const { url } = await build(t, { listen: true })
  const r = await start(['list', '--json'], { BOLT_STREAM_URL: url }, ['npx', '--no-install', 'bolt-stream']).done
  t.equal(r.code, 0, r.stderr)
  t.same(JSON.parse(r.stdout), { executions: [], nextCursor: null })
})
