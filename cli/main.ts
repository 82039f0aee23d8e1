import { Command, CommanderError, Option } from 'commander'
import { BoltStreamClient, BoltStreamError } from '../client/index.js'
import type { Accepted, ExecutionRecord, LoggedEvent } from '../client/index.js'
// Not schemas/index.js: the CLI needs no TypeBox at run time (it starts faster); the API checks the filters.
import { PACKAGE_ACTIONS } from '../schemas/input-rules.js'
import { collectParam, collectTargets, parseParamsJson, positiveInteger } from './params.js'
import { EventPrinter, type Terminal } from './render.js'

// The bolt-stream command line: starts executions, follows them live, lists and inspects them.
// Exit codes: 0 success, 1 any other final status or failure, 2 usage errors (and 400 answers),
// 130 when Ctrl-C stops a follow (the execution goes on).

export const EXIT = { ok: 0, failed: 1, usage: 2, interrupted: 130 } as const
const DEFAULT_URL = 'http://localhost:3000'

export interface CliEnvironment extends Terminal {
  env: Record<string, string | undefined>
  /** Ctrl-C: aborts a follow. */
  interrupt?: AbortSignal
}

interface GlobalOptions { url?: string, token?: string }

/** Runs the CLI with `argv` (without node and the script); resolves with the exit code. */
export async function main (argv: string[], io: CliEnvironment): Promise<number> {
  let exitCode: number = EXIT.ok
  const program = new Command('bolt-stream')
  const clientOf = (): BoltStreamClient => {
    const options = program.opts<GlobalOptions>()
    return new BoltStreamClient({ baseUrl: options.url ?? io.env.BOLT_STREAM_URL ?? DEFAULT_URL, token: options.token ?? nonEmpty(io.env.BOLT_STREAM_TOKEN) })
  }
  const out = (text: string): void => { io.stdout.write(text) }

  /** Follows to the terminal event; the exit code of its final status. */
  const follow = async (id: string): Promise<number> => {
    const printer = new EventPrinter(io)
    const controller = new AbortController()
    const onInterrupt = (): void => controller.abort()
    io.interrupt?.addEventListener('abort', onInterrupt, { once: true })
    const started = Date.now()
    let last: LoggedEvent | undefined
    let state = 'connecting'
    const tick = printer.live ? setInterval(() => printer.status(`${state} ${Math.round((Date.now() - started) / 1000)}s  ${id}`), 1000) : undefined
    try {
      for await (const event of clientOf().follow(id, {
        signal: controller.signal,
        onConnection: (s) => {
          state = s.state === 'reconnecting' ? `reconnecting in ${s.delayMs} ms (${s.error?.message ?? 'stream ended'})` : s.state === 'open' ? 'waiting for output' : s.state
        }
      })) {
        last = event
        printer.event(event)
      }
    } finally {
      clearInterval(tick)
      printer.clearStatus()
      io.interrupt?.removeEventListener('abort', onInterrupt)
    }
    if (controller.signal.aborted) {
      io.stderr.write(`stopped following ${id}; it goes on (bolt-stream follow ${id} to follow again, bolt-stream cancel ${id} to stop it)\n`)
      return EXIT.interrupted
    }
    if (last === undefined || (last.type !== 'complete' && last.type !== 'error')) {
      // 204: the execution had ended before; its record says how.
      return statusExit((await clientOf().getExecution(id)).status)
    }
    return statusExit(last.data.status)
  }

  /** Prints the new execution's id (stdout) and follows it when asked. */
  const started = async (accepted: Accepted, followIt: boolean | undefined): Promise<void> => {
    if (followIt === true) {
      io.stderr.write(`execution ${accepted.executionId}\n`)
      exitCode = await follow(accepted.executionId)
    } else {
      out(`${accepted.executionId}\n`)
    }
  }

  program
    .description('Run Puppet Bolt operations through a bolt-stream service and follow their output live')
    .addOption(new Option('--url <url>', 'the service (default: $BOLT_STREAM_URL, else http://localhost:3000)'))
    .addOption(new Option('--token <token>', 'API token (default: $BOLT_STREAM_TOKEN)'))
    .showHelpAfterError('(add --help for usage)')
    .exitOverride()
    .configureOutput({ writeOut: (s) => io.stdout.write(s), writeErr: (s) => io.stderr.write(s) })
    .enablePositionalOptions(false)

  const run = program.command('run').description('start an execution (prints its id, or follows it with --follow)')
  const common = (cmd: Command, targetsRequired = true): Command => {
    const targets = new Option('-t, --targets <names>', 'targets, comma-separated (repeatable)').argParser(collectTargets)
    if (targetsRequired) targets.makeOptionMandatory()
    return cmd.addOption(targets)
      .option('-f, --follow', 'follow its output to the end')
      .option('--no-expert', 'without expert mode: no command line or live output (needs no expert scope)')
  }
  const withParams = (cmd: Command): Command => cmd
    .option('-p, --param <key=value>', 'a parameter (repeatable); the value is read as JSON when it is JSON', collectParam)
    .option('--params <json>', 'parameters as a JSON object (-p wins)', parseParamsJson)
  const paramsOf = (o: { param?: Record<string, unknown>, params?: Record<string, unknown> }): Record<string, unknown> | undefined =>
    o.param === undefined && o.params === undefined ? undefined : { ...o.params, ...o.param }

  common(run.command('command').argument('<command>', 'the command line to run on each target').description('run a command'))
    .action(async (command: string, o) => {
      await started(await clientOf().runCommand({ targets: o.targets, command, expertMode: o.expert }), o.follow)
    })
  withParams(common(run.command('task').argument('<task>', 'module::task').description('run a task')))
    .action(async (task: string, o) => {
      await started(await clientOf().runTask({ targets: o.targets, task, params: paramsOf(o), expertMode: o.expert }), o.follow)
    })
  withParams(common(run.command('plan').argument('<plan>', 'module::plan').description('run a plan'), false))
    .action(async (plan: string, o) => {
      await started(await clientOf().runPlan({ plan, params: paramsOf(o), targets: o.targets, expertMode: o.expert }), o.follow)
    })
  common(run.command('puppet').description('run the Puppet agent'))
    .option('--noop', 'a no-op run')
    .option('--environment <name>', 'the Puppet environment')
    .option('--tags <tags>', 'tags, comma-separated', (s: string) => s.split(',').map((t) => t.trim()).filter((t) => t.length > 0))
    .action(async (o) => {
      await started(await clientOf().runPuppet({ targets: o.targets, noop: o.noop, environment: o.environment, tags: o.tags, expertMode: o.expert }), o.follow)
    })
  common(run.command('package').argument('<name>', 'the package').description('install, remove, upgrade or check a package'))
    .addOption(new Option('--action <action>', 'what to do (default install)').choices(PACKAGE_ACTIONS))
    .option('--version <version>', 'the version')
    .action(async (name: string, o) => {
      await started(await clientOf().installPackage({ targets: o.targets, name, action: o.action, version: o.version, expertMode: o.expert }), o.follow)
    })

  program.command('follow').argument('<id>', 'execution id').description('follow an execution to its end (Ctrl-C stops following, not the execution)')
    .action(async (id: string) => { exitCode = await follow(id) })

  program.command('list').description('list executions, newest first')
    .option('--status <status>', 'queued, running, success, failed, partial, cancelled, timed_out or interrupted')
    .option('--type <type>', 'command, task, plan, puppet or package')
    .option('--target <name>', 'run on this target')
    .option('--since <time>', 'started at or after (ISO 8601)')
    .option('--until <time>', 'started before (ISO 8601)')
    .option('--rerun-of <id>', 're-runs of this execution')
    .option('--limit <n>', 'at most this many (1-100, default 20)', positiveInteger)
    .option('--cursor <cursor>', 'the next page, as the previous one printed it')
    .option('--json', 'the API\'s answer as JSON')
    .action(async (o) => {
      const page = await clientOf().listExecutions({ status: o.status, type: o.type, target: o.target, since: o.since, until: o.until, rerunOf: o.rerunOf, limit: o.limit, cursor: o.cursor })
      if (o.json === true) { out(JSON.stringify(page, null, 2) + '\n'); return }
      out(table(page.executions))
      if (page.nextCursor !== null) io.stderr.write(`more: --cursor ${page.nextCursor}\n`)
    })

  program.command('show').argument('<id>', 'execution id').description('show an execution').option('--json', 'the record as JSON')
    .action(async (id: string, o) => {
      const record = await clientOf().getExecution(id)
      if (o.json === true) out(JSON.stringify(record, null, 2) + '\n')
      else new EventPrinter(io).record(record)
    })

  program.command('cancel').argument('<id>', 'execution id').description('cancel a queued or running execution')
    .action(async (id: string) => {
      const accepted = await clientOf().cancel(id)
      out(`${accepted.executionId} ${accepted.status === 'cancelled' ? 'cancelled' : 'cancelling'}\n`)
    })

  program.command('rerun').argument('<id>', 'execution id').description('run an execution again, as a new one')
    .option('--failed', 'only on the targets that did not succeed')
    .option('-f, --follow', 'follow its output to the end')
    .action(async (id: string, o) => {
      await started(await clientOf().rerun(id, { targets: o.failed === true ? 'failed' : 'all' }), o.follow)
    })

  program.command('output').argument('<id>', 'execution id').description('print the captured output (needs the expert scope)')
    .option('--target <name>', 'only this target, as it printed it')
    .addOption(new Option('--stream <stream>').choices(['stdout', 'stderr']))
    .addOption(new Option('--source <source>', 'result (default): Bolt\'s exact text after the end; live: the live log').choices(['result', 'live']))
    .action(async (id: string, o) => {
      out(await clientOf().output(id, { target: o.target, stream: o.stream, source: o.source }))
    })

  try {
    await program.parseAsync(argv, { from: 'user' })
    return exitCode
  } catch (err) {
    return failure(err, io, () => program.opts<GlobalOptions>().url ?? io.env.BOLT_STREAM_URL ?? DEFAULT_URL)
  }
}

function nonEmpty (value: string | undefined): string | undefined {
  return value === undefined || value === '' ? undefined : value
}

function statusExit (status: ExecutionRecord['status']): number {
  return status === 'success' ? EXIT.ok : EXIT.failed
}

/** The message and exit code of a failure. */
function failure (err: unknown, io: CliEnvironment, url: () => string): number {
  if (err instanceof CommanderError) {
    // Help and version are not failures; commander has printed every usage error already.
    return err.code === 'commander.helpDisplayed' || err.code === 'commander.help' || err.code === 'commander.version' ? EXIT.ok : EXIT.usage
  }
  const say = (text: string): void => { io.stderr.write(`bolt-stream: ${text}\n`) }
  if (!(err instanceof BoltStreamError)) {
    say((err as Error).message ?? String(err))
    return EXIT.failed
  }
  if (err.status === undefined) {
    say(err.code === 'ECONNREFUSED'
      ? `cannot connect to ${url()}: connection refused (is the service running? set BOLT_STREAM_URL or --url)`
      : `cannot reach ${url()}: ${err.message}`)
    return EXIT.failed
  }
  const code = err.code === undefined ? '' : ` (${err.code})`
  if (err.status === 401) {
    say(`not authenticated: ${err.message}${code}; set BOLT_STREAM_TOKEN or --token to a valid API token`)
    return EXIT.failed
  }
  if (err.status === 403) {
    say(`not allowed: ${err.message}${code}${err.code === 'BOLT_STREAM_FORBIDDEN' ? '; the token lacks a scope (for runs without expert mode, add --no-expert)' : ''}`)
    return EXIT.failed
  }
  say(`${err.message}${code}`)
  return err.status === 400 ? EXIT.usage : EXIT.failed
}

function table (records: ExecutionRecord[]): string {
  const rows = records.map((r) => [r.id, r.status, r.type, r.startedAt, r.targets.join(','), r.action.replace(/\s+/g, ' ').slice(0, 60)])
  const header = ['ID', 'STATUS', 'TYPE', 'STARTED', 'TARGETS', 'ACTION']
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)))
  return [header, ...rows].map((r) => r.map((cell, i) => i === r.length - 1 ? cell : cell.padEnd(widths[i])).join('  ')).join('\n') + '\n'
}
