import { randomBytes } from 'node:crypto'
import { existsSync, readFileSync } from 'node:fs'
import t from 'tap'
import { build, makeTokens, openStream, postJson, until } from '../helper.js'

// Secrets in requests never reach the logs, the streams, the API's answers or the SQLite file,
// while Bolt itself still gets them.

const tokens = makeTokens({ ops: ['read', 'execute', 'expert'] })

t.test('passwords, tokens and tickets stay out of logs, events, records and the database', async (t) => {
  const secret = `hunter2${randomBytes(8).toString('hex')}`
  const ctx = await build(t, { listen: true, captureLogs: true, env: { AUTH_TOKENS: tokens.env } })
  const auth = tokens.auth('ops')
  const command = [
    `true --password=${secret}`,
    `true --sudo-password '${secret}'`,
    `MYSQL_PWD=${secret} true`,
    `true https://deploy:${secret}@repo.example/x`,
    `true -H "Authorization: Bearer ${secret}"`,
    'echo ran'
  ].join('; ')
  const started = await postJson(`${ctx.url}/api/commands`, { targets: ['web1'], command, expertMode: true }, auth)
  t.equal(started.status, 202)
  const task = await postJson(`${ctx.url}/api/tasks`, { targets: ['web1'], task: 'demo::info', params: { password: secret, nested: { api_key: secret }, user: 'alice' }, expertMode: true }, auth)
  t.equal(task.status, 202)
  const commandId = started.json.executionId as string
  const taskId = task.json.executionId as string

  // One follower with the header, one with a ticket (EventSource's way).
  const ticket = (await postJson(`${ctx.url}/api/executions/${commandId}/stream-ticket`, {}, auth)).json.ticket as string
  const streams = await Promise.all([
    openStream(`${ctx.url}/api/executions/${commandId}/stream`, auth),
    openStream(`${ctx.url}/api/executions/${commandId}/stream?ticket=${ticket}`),
    openStream(`${ctx.url}/api/executions/${taskId}/stream`, auth)
  ])
  await Promise.all(streams.map((s) => s.ended))
  for (const s of streams) t.equal(s.events.at(-1)?.event, 'complete')

  const commandEvent = streams[0].events.find((e) => e.event === 'command')?.payload.data.command as string
  t.match(commandEvent, /--password=\[REDACTED\]/, 'the command event shows where a secret was')
  t.match(commandEvent, /MYSQL_PWD=\[REDACTED\]/)
  t.match(commandEvent, /deploy:\[REDACTED\]@repo\.example/)
  t.match(commandEvent, /echo ran/, 'and the rest of the command')
  t.match(streams[2].events.find((e) => e.event === 'command')?.payload.data.command, /alice/, 'non-secret task params are shown')
  t.match(JSON.stringify(streams[0].events.filter((e) => e.event === 'stdout')), /ran/, 'the command ran')

  const answers = [JSON.stringify(streams.map((s) => s.events))]
  for (const path of [
    `/api/executions/${commandId}`, `/api/executions/${taskId}`, '/api/executions',
    `/api/executions/${commandId}/events?limit=1000`, `/api/executions/${taskId}/events?limit=1000`
  ]) {
    const res = await fetch(ctx.url + path, { headers: auth })
    t.equal(res.status, 200, path)
    answers.push(await res.text())
  }
  t.match(answers[1], /"action":"true --password=\[REDACTED\]/, 'the record keeps the redacted command')
  t.notOk(answers.some((a) => a.includes(secret)), 'no answer of the API holds the secret')

  // Bolt got the real values.
  const argv = ctx.spawns().flatMap((s) => s.argv).join(' ')
  t.ok(argv.includes(`--password=${secret}`) && argv.includes(`"password":"${secret}"`), 'Bolt was given the secrets')

  await until(() => ctx.logText().includes('ticket=[REDACTED]'), 2000, 'the ticket request to be logged')
  await ctx.app.close()
  const log = ctx.logText()
  t.ok(log.includes('"url":"/api/commands"'), 'requests were logged')
  t.notOk(log.includes(secret), 'no secret in the logs')
  t.notOk(log.includes(tokens.token.ops), 'no API token in the logs')
  t.notOk(log.includes(ticket), 'no ticket in the logs')

  // Every byte SQLite keeps (the WAL is checkpointed into the file on close; read what exists).
  const files = [ctx.config.databasePath, `${ctx.config.databasePath}-wal`].filter((f) => existsSync(f))
  const stored = files.map((f) => readFileSync(f).toString('latin1')).join('')
  t.ok(stored.includes('[REDACTED]') && stored.includes(commandId), 'the database holds the redacted records')
  t.notOk(stored.includes(secret), 'the database never holds the secret')
  t.notOk(stored.includes(tokens.token.ops) || stored.includes(ticket), 'nor the token or the ticket')
})
