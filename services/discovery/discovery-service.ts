import { existsSync } from 'node:fs'
import { join } from 'node:path'
import type { Group, InventoryTarget, ItemSummary, PlanDetail, TaskDetail } from '../../schemas/index.js'
import { isValidTaskName } from '../bolt/input-rules.js'
import {
  BoltFailedError, BoltTimeoutError, BoltUnavailableError, DiscoveryClosedError, GroupNotFoundError, InvalidInputError,
  PlanNotFoundError, TaskNotFoundError, withKind
} from '../errors.js'
import type { Logger } from '../logger.js'
import { readAnswer } from './bolt-answer.js'
import { ShowRunError, ShowRunner } from './bolt-show.js'
import { SingleFlightCache } from './cache.js'
import { DocumentShapeError, groupsFrom, planFrom, summariesFrom, targetsFrom, taskFrom } from './mapping.js'

// What Bolt knows about the project, asked with `bolt task|plan|inventory|group show --format=json`
// and kept per project for `cacheTtlMs`.

export interface DiscoveryOptions {
  boltPath: string
  env: NodeJS.ProcessEnv
  projectDir: string
  timeoutMs: number
  cacheTtlMs: number
  killGraceMs: number
  logger: Logger
  now?: () => number
}

/** Discovery's Bolt processes at once: real Bolt is a Ruby process of ~100 MB. */
const MAX_CONCURRENT_RUNS = 4
/** Stdout a discovery run may print (an inventory of thousands of targets with facts stays far below). */
const MAX_OUTPUT_BYTES = 64 * 1024 * 1024
/** Kept answers at most (task and plan details are per name). */
const MAX_CACHE_ENTRIES = 1000

type Answer = ItemSummary[] | TaskDetail | PlanDetail | InventoryTarget[] | Group[]

const isNotFound = (error: unknown): boolean => error instanceof TaskNotFoundError || error instanceof PlanNotFoundError

/** Bolt's answer about a name it does not know is an answer too: it is kept like the others. */
export class DiscoveryService {
  private readonly runner: ShowRunner
  private readonly cache: SingleFlightCache<Answer>
  /** Since start: discovery requests, those that ran Bolt, and the runs that failed (for the metrics). */
  readonly counts = { requests: 0, runs: 0, failedRuns: 0 }

  constructor (private readonly options: DiscoveryOptions) {
    this.runner = new ShowRunner({
      boltPath: options.boltPath,
      env: options.env,
      timeoutMs: options.timeoutMs,
      killGraceMs: options.killGraceMs,
      maxConcurrent: MAX_CONCURRENT_RUNS,
      maxOutputBytes: MAX_OUTPUT_BYTES,
      logger: options.logger
    })
    this.cache = new SingleFlightCache({ ttlMs: options.cacheTtlMs, maxEntries: MAX_CACHE_ENTRIES, keepFailure: isNotFound, now: options.now })
  }

  tasks (refresh = false): Promise<ItemSummary[]> {
    return this.cached('tasks', refresh, async () => summariesFrom(await this.show('task'), 'tasks'))
  }

  task (name: string, refresh = false): Promise<TaskDetail> {
    checkName(name)
    return this.cached(`task ${name}`, refresh, async () => taskFrom(await this.show('task', name)))
  }

  plans (refresh = false): Promise<ItemSummary[]> {
    return this.cached('plans', refresh, async () => summariesFrom(await this.show('plan'), 'plans'))
  }

  plan (name: string, refresh = false): Promise<PlanDetail> {
    checkName(name)
    return this.cached(`plan ${name}`, refresh, async () => {
      const doc = await this.show('plan', name)
      return planFrom(doc, planLanguage(name, doc.module_dir, doc.docstring))
    })
  }

  /** Every target, or those of one group (404 when the inventory has no such group). */
  async targets (group?: string, refresh = false): Promise<InventoryTarget[]> {
    const all = await this.cached('targets', refresh, async () => targetsFrom(await this.show('inventory', undefined, ['--detail'])))
    if (group === undefined) return all
    const members = all.filter((t) => t.groups.includes(group))
    // An empty list may be an empty group or no group at all: Bolt's group list tells which.
    if (members.length === 0 && !(await this.groups(refresh)).some((g) => g.name === group)) throw new GroupNotFoundError(group)
    return members
  }

  groups (refresh = false): Promise<Group[]> {
    return this.cached('groups', refresh, async () => groupsFrom(await this.show('group')))
  }

  /** Ends the running Bolt processes (their groups killed) and forgets the kept answers. */
  async close (): Promise<void> {
    await this.runner.close()
    this.cache.clear()
  }

  private cached<T extends Answer> (what: string, refresh: boolean, load: () => Promise<T>): Promise<T> {
    this.counts.requests++
    const mapped = async (): Promise<T> => {
      try {
        return await load()
      } catch (err) {
        throw err instanceof DocumentShapeError ? withKind(new BoltFailedError(err.message), 'bolt-stream/invalid-document') : err
      }
    }
    return this.cache.get(`${this.options.projectDir}\0${what}`, mapped, refresh) as Promise<T>
  }

  /** Runs `bolt <sub> show [--] [name]` and returns its document, or throws the API error for its failure. */
  private async show (sub: 'task' | 'plan' | 'inventory' | 'group', name?: string, extra: string[] = []): Promise<Record<string, unknown>> {
    const args = [sub, 'show', '--format=json', `--project=${this.options.projectDir}`, ...extra]
    if (name !== undefined) args.push('--', name)
    let output
    this.counts.runs++
    try {
      output = await this.runner.run(args)
    } catch (err) {
      this.counts.failedRuns++
      throw runError(err)
    }
    const answer = readAnswer(output)
    if (!answer.ok) {
      this.counts.failedRuns++
      this.options.logger.info({ args, kind: answer.kind }, 'Bolt discovery answered with an error')
      throw boltError(answer.kind, answer.message)
    }
    return answer.document
  }
}

function checkName (name: string): void {
  // The routes refuse these already; a name must never reach Bolt as an option.
  if (!isValidTaskName(name)) throw new InvalidInputError(`invalid name '${name}'`)
}

function boltError (kind: string, message: string): Error {
  if (kind === 'bolt/unknown-task') return withKind(new TaskNotFoundError(message), kind)
  if (kind === 'bolt/unknown-plan') return withKind(new PlanNotFoundError(message), kind)
  return withKind(new BoltFailedError(message), kind)
}

function runError (err: unknown): Error {
  if (!(err instanceof ShowRunError)) return err as Error
  switch (err.reason) {
    case 'timeout': return withKind(new BoltTimeoutError(err.message), 'bolt-stream/timeout')
    case 'too-large': return withKind(new BoltFailedError(err.message), 'bolt-stream/output-too-large')
    case 'closed': return new DiscoveryClosedError()
    case 'not-found': return withKind(new BoltUnavailableError(err.message), 'bolt-stream/bolt-not-found')
    case 'spawn-failed': return withKind(new BoltUnavailableError(err.message), 'bolt-stream/spawn-failed')
  }
}

/**
 * A Puppet-language plan or a YAML one, decided as Bolt decides it: a Puppet plan is the
 * module's `plans/<path>.pp`. Without a module directory, Bolt's tell: only YAML plans have a docstring.
 */
function planLanguage (name: string, moduleDir: unknown, docstring: unknown): PlanDetail['language'] {
  if (typeof moduleDir !== 'string') return typeof docstring === 'string' ? 'yaml' : 'puppet'
  const path = name.split('::').slice(1).join('/')
  return existsSync(join(moduleDir, 'plans', `${path.length > 0 ? path : 'init'}.pp`)) ? 'puppet' : 'yaml'
}
