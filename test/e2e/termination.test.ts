import t from 'tap'
import { groupHasLiveProcess } from '../../services/bolt/process-group.js'
import { build, openStream, postJson, type SseEvent } from '../helper.js'

// Bolt dies of SIGTERM at once and leaves its children in its process group; children that
// ignore the signal live on until the SIGKILL. The execution ends only once they are gone.

const isTerminal = (e: SseEvent): boolean => e.event === 'complete' || e.event === 'error'

for (const how of ['timeout', 'cancel'] as const) {
  t.test(`${how}: the terminal event comes only once no process of Bolt's group remains`, async (t) => {
    // The grace period is longer than the wait for Bolt's pipes (2 s), so an end that follows
    // Bolt's own exit instead of its group's comes while the `sleep` still runs.
    const ctx = await build(t, { listen: true, env: { BOLT_KILL_GRACE_MS: '4000', ...(how === 'timeout' ? { EXECUTION_TIMEOUT_MS: '3000' } : {}) } })
    const res = await postJson(`${ctx.url}/api/commands`, { targets: ['a'], command: "trap '' TERM; echo ready; sleep 30", expertMode: true })
    t.equal(res.status, 202)
    const id = res.json.executionId as string
    const stream = await openStream(`${ctx.url}/api/executions/${id}/stream`)
    await stream.waitFor((e) => e.event === 'stdout' && e.payload.data.output === 'ready\n')
    t.notOk(stream.events.some(isTerminal), 'the shell set its trap before the end began')
    const { pgid } = ctx.spawns()[0]
    t.ok(pgid !== undefined && await groupHasLiveProcess(pgid), 'the shell and its sleep run in the group')
    const endAsked = Date.now()
    if (how === 'cancel') t.equal((await postJson(`${ctx.url}/api/executions/${id}/cancel`, {})).status, 202)
    const terminal = await stream.waitFor(isTerminal, 20_000)
    t.notOk(await groupHasLiveProcess(pgid!), 'when the terminal event arrives, nothing of the group runs')
    t.equal(terminal.event, 'error')
    t.equal(terminal.payload.data.status, how === 'timeout' ? 'timed_out' : 'cancelled')
    if (how === 'cancel') t.ok(Date.now() - endAsked >= 3900, `not before the SIGKILL (${Date.now() - endAsked} ms after the cancel)`)
  })
}
