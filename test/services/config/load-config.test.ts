import t from 'tap'
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { configDefaults, loadConfig } from '../../../services/config/load-config.js'

const cwd = mkdtempSync(join(tmpdir(), 'bolt-stream-config-'))
t.teardown(() => rmSync(cwd, { recursive: true, force: true }))

interface Thrown { code?: unknown, message?: unknown }

function failure (env: Record<string, string>): Thrown | undefined {
  try {
    loadConfig(env, cwd)
  } catch (err) {
    return err as Thrown
  }
  return undefined
}

t.test('defaults', async (t) => {
  const c = loadConfig({}, cwd)
  t.equal(c.host, '0.0.0.0')
  t.equal(c.port, 3000)
  t.equal(c.logLevel, 'info')
  t.equal(c.boltPath, 'bolt')
  t.equal(c.boltProject, resolve(cwd, 'data/bolt-project'), 'default project dir under the working directory')
  t.equal(c.boltProjectIsDefault, true)
  t.strictSame(c.boltEnvPassthrough, [])
  t.equal(c.executionTimeoutMs, 300_000)
  t.equal(c.streamFlushIntervalMs, 100)
  t.equal(c.streamHeartbeatMs, 15_000)
  t.equal(c.maxOutputBytes, 10_485_760)
  t.equal(c.shutdownGraceMs, 20_000)
  t.equal(c.puppetAgentCommand, 'puppet agent --test --color=false')
  t.equal(c.puppetRunAs, 'root')
  t.strictSame(c.corsOrigins, [], 'no CORS origins')
  t.equal(c.boltKillGraceMs, 5000)
  t.equal(c.retentionMaxExecutions, 10000)
  // The limits of the Security section.
  t.equal(c.maxConcurrentExecutions, 10)
  t.equal(c.maxQueuedExecutions, 100)
  t.equal(c.maxStreams, 10_000)
  t.equal(c.maxStreamsPerClient, 20)
  t.equal(c.streamMaxBufferedBytes, 1_048_576)
  t.equal(c.streamStallTimeoutMs, 30_000)
  t.equal(c.rateLimitMax, 120)
  t.equal(c.rateLimitWindowMs, 60_000)
  t.equal(c.streamTicketTtlMs, 30_000)
  t.equal(c.commandAllowlist, null)
  t.equal(c.taskAllowlist, null)
  t.strictSame(c.authTokens, [], 'open mode')
  // Operations: metrics on the main port, load shed on event-loop delay only.
  t.equal(c.metricsEnabled, true)
  t.equal(c.metricsPort, 0)
  t.equal(c.shedMaxEventLoopDelayMs, 1000)
  t.equal(c.shedMaxHeapUsedBytes, 0)
  t.equal(c.shedMaxRssBytes, 0)
  t.equal(c.shedSampleIntervalMs, 1000)
  t.equal(loadConfig({ METRICS_ENABLED: 'false' }, cwd).metricsEnabled, false)

  const d = configDefaults()
  t.equal(d.PORT, 3000)
  t.equal(d.HOST, '0.0.0.0')
})

t.test('values are read and converted', async (t) => {
  const project = join(cwd, 'proj')
  mkdirSync(project, { recursive: true })
  const c = loadConfig({
    HOST: '127.0.0.1',
    PORT: ' 8080 ',
    LOG_LEVEL: 'debug',
    BOLT_PROJECT: project,
    BOLT_PATH: './bin/bolt',
    BOLT_ENV_PASSTHROUGH: 'HTTPS_PROXY, SSH_AUTH_SOCK,,',
    EXECUTION_TIMEOUT_MS: '60000',
    STREAM_FLUSH_INTERVAL_MS: '50',
    MAX_OUTPUT_BYTES: '2048',
    SHUTDOWN_GRACE_MS: '0',
    CORS_ORIGINS: 'https://ops.example.com, http://localhost:5173',
    PUPPET_AGENT_COMMAND: '/opt/puppetlabs/bin/puppet agent -t',
    PUPPET_RUN_AS: 'deploy',
    UNRELATED: 'ignored'
  }, cwd)
  t.equal(c.host, '127.0.0.1')
  t.equal(c.port, 8080)
  t.equal(c.logLevel, 'debug')
  t.equal(c.boltProject, project)
  t.equal(c.boltProjectIsDefault, false)
  t.equal(c.boltPath, resolve(cwd, 'bin/bolt'), 'a relative path is resolved against cwd')
  t.strictSame(c.boltEnvPassthrough, ['HTTPS_PROXY', 'SSH_AUTH_SOCK'])
  t.equal(c.executionTimeoutMs, 60_000)
  t.equal(c.streamFlushIntervalMs, 50)
  t.equal(c.maxOutputBytes, 2048)
  t.equal(c.shutdownGraceMs, 0)
  t.strictSame(c.corsOrigins, ['https://ops.example.com', 'http://localhost:5173'])
  t.equal(c.puppetAgentCommand, '/opt/puppetlabs/bin/puppet agent -t')
  t.equal(c.puppetRunAs, 'deploy')
  t.equal(loadConfig({ CORS_ORIGINS: '*' }, cwd).corsOrigins[0], '*')
  t.equal(loadConfig({ PORT: '0' }, cwd).port, 0)
  t.equal(loadConfig({ PORT: '65535' }, cwd).port, 65535)
})

t.test('empty PUPPET_RUN_AS means no --run-as', async (t) => {
  t.equal(loadConfig({ PUPPET_RUN_AS: '' }, cwd).puppetRunAs, null, "PUPPET_RUN_AS=''")
  t.equal(loadConfig({ PUPPET_RUN_AS: '   ' }, cwd).puppetRunAs, null, 'PUPPET_RUN_AS of spaces')
})

t.test('bad values throw an error naming the setting', async (t) => {
  const cases: Array<[string, string]> = [
    ['PORT', '70000'],
    ['PORT', 'abc'],
    ['PORT', '1.5'],
    ['PORT', '1e3'],
    ['PORT', '-1'],
    ['PORT', '0x50'],
    ['LOG_LEVEL', 'loud'],
    ['BOLT_PROJECT', '/does/not/exist'],
    ['CORS_ORIGINS', 'bad'],
    ['CORS_ORIGINS', 'https://ok.example.com,ftp://x'],
    ['PUPPET_RUN_AS', 'a b'],
    ['PUPPET_RUN_AS', '-root'],
    ['BOLT_ENV_PASSTHROUGH', '1BAD'],
    ['BOLT_ENV_PASSTHROUGH', 'OK,BAD-NAME'],
    ['EXECUTION_TIMEOUT_MS', '10'],
    ['STREAM_FLUSH_INTERVAL_MS', '0'],
    ['MAX_OUTPUT_BYTES', '12kb'],
    ['PUPPET_AGENT_COMMAND', '--noop'],
    ['PUPPET_AGENT_COMMAND', 'puppet agent\nrm -rf /'],
    ['MAX_CONCURRENT_EXECUTIONS', '0'],
    ['MAX_QUEUED_EXECUTIONS', '-1'],
    ['MAX_STREAMS', 'lots'],
    ['MAX_STREAMS_PER_CLIENT', '0'],
    ['STREAM_MAX_BUFFERED_BYTES', '1024'],
    ['STREAM_STALL_TIMEOUT_MS', '1.5'],
    ['RATE_LIMIT_MAX', '0'],
    ['METRICS_ENABLED', 'yes'],
    ['METRICS_PORT', '65536'],
    ['SHED_MAX_EVENT_LOOP_DELAY_MS', '-1'],
    ['SHED_SAMPLE_INTERVAL_MS', '5'],
    ['RATE_LIMIT_WINDOW_MS', '10'],
    ['TRUST_PROXY', 'proxy.example'],
    ['STORE', 'postgres'],
    ['REDIS_URL', 'http://127.0.0.1:6379'],
    ['REDIS_URL', 'redis://exa mple'],
    ['LEASE_TTL_MS', '500']
  ]
  for (const [name, value] of cases) {
    const err = failure({ [name]: value })
    const label = `${name}=${JSON.stringify(value)}`
    t.ok(err instanceof Error, `${label}: throws`)
    t.equal(err?.code, 'BOLT_STREAM_INVALID_CONFIG', `${label}: code`)
    t.match(String(err?.message), name, `${label}: message names the setting`)
  }
  // A file is not a directory.
  const file = join(cwd, 'a-file')
  writeFileSync(file, 'x')
  const err = failure({ BOLT_PROJECT: file })
  t.equal(err?.code, 'BOLT_STREAM_INVALID_CONFIG', 'BOLT_PROJECT pointing at a file')
  t.match(String(err?.message), 'BOLT_PROJECT')
})

t.test('the first bad setting is named, not a later one', async (t) => {
  const err = failure({ PORT: '99999', LOG_LEVEL: 'info' })
  t.match(String(err?.message), /PORT/)
  t.notMatch(String(err?.message), /LOG_LEVEL/)
})

t.test('API tokens from AUTH_TOKENS and AUTH_TOKENS_FILE', async (t) => {
  const hash = 'ab'.repeat(32)
  const file = join(cwd, 'tokens.txt')
  writeFileSync(file, `# who may do what\nalice read,execute,expert ${hash}\n`)
  const both = loadConfig({ AUTH_TOKENS: `ci read,execute ${'cd'.repeat(32)};viewer read ${'ef'.repeat(32)}`, AUTH_TOKENS_FILE: file }, cwd)
  t.same(both.authTokens.map((e) => e.name), ['ci', 'viewer', 'alice'])
  t.same(both.authSources, ['AUTH_TOKENS', `AUTH_TOKENS_FILE (${file})`])
  t.same(loadConfig({}, cwd).authTokens, [], 'none: open mode')
  t.equal(loadConfig({}, cwd).streamTicketTtlMs, 30_000)

  const cases: Array<[Record<string, string>, RegExp]> = [
    [{ AUTH_TOKENS_FILE: join(cwd, 'missing.txt') }, /AUTH_TOKENS_FILE ".*missing\.txt" cannot be read: ENOENT/],
    [{ AUTH_TOKENS_FILE: cwd }, /AUTH_TOKENS_FILE .* cannot be read: EISDIR/],
    [{ AUTH_TOKENS: 'alice read' }, /AUTH_TOKENS entry 1 must be/],
    [{ AUTH_TOKENS: '# only a comment' }, /AUTH_TOKENS is set but has no token entries/],
    [{ AUTH_TOKENS: `alice admin ${hash}` }, /unknown scope "admin"/],
    [{ AUTH_TOKENS: `alice read ${'cd'.repeat(32)}`, AUTH_TOKENS_FILE: file }, /the token name "alice" is used twice/],
    [{ STREAM_TICKET_TTL_MS: '500' }, /STREAM_TICKET_TTL_MS must be a whole number from 1000 to 300000/]
  ]
  for (const [env, message] of cases) {
    const err = failure(env)
    t.equal(err?.code, 'BOLT_STREAM_INVALID_CONFIG', JSON.stringify(env).slice(0, 60))
    t.match(err?.message, message)
    t.notMatch(String(err?.message), new RegExp(hash), 'no hash echoed')
  }
  const empty = join(cwd, 'empty.txt')
  writeFileSync(empty, '# nobody yet\n')
  t.match(failure({ AUTH_TOKENS_FILE: empty })?.message, /has no token entries/, 'a file without tokens would open the API: refused')
})

t.test("Bolt's environment is made from the environment given, not the process's", async (t) => {
  const c = loadConfig({
    PATH: '/opt/bolt/bin:/usr/bin',
    HOME: '/home/svc',
    LANG: 'C.UTF-8',
    HTTPS_PROXY: 'http://proxy:3128',
    AUTH_TOKENS: `ci read ${'ab'.repeat(32)}`,
    SERVICE_SECRET: 'hunter2',
    BOLT_ENV_PASSTHROUGH: 'HTTPS_PROXY,NOT_SET'
  }, cwd)
  t.strictSame(c.boltEnv, {
    PATH: '/opt/bolt/bin:/usr/bin',
    HOME: '/home/svc',
    LANG: 'C.UTF-8',
    HTTPS_PROXY: 'http://proxy:3128',
    BOLT_DISABLE_ANALYTICS: '1'
  })
  t.strictSame(loadConfig({}, cwd).boltEnv, { BOLT_DISABLE_ANALYTICS: '1' }, 'an empty environment gives Bolt nothing else')
})

t.test('every setting is in the config under its camelCase name; derived values in their place', async (t) => {
  const keys = Object.keys(loadConfig({}, cwd)).sort()
  t.strictSame(keys, [
    'authSources', 'authTokens', 'boltEnv', 'boltEnvPassthrough', 'boltKillGraceMs', 'boltPath', 'boltProbeIntervalMs',
    'boltProject', 'boltProjectIsDefault', 'commandAllowlist', 'corsOrigins', 'databasePath', 'demoMode', 'discoveryCacheTtlMs',
    'discoveryTimeoutMs', 'executionTimeoutMs',
    'historyMaxBytes', 'host', 'leaseTtlMs', 'logLevel', 'maxConcurrentExecutions', 'maxOutputBytes', 'maxQueuedExecutions',
    'maxStreams', 'maxStreamsPerClient', 'metricsEnabled', 'metricsPort', 'planAllowlist', 'port', 'puppetAgentCommand', 'puppetRunAs', 'rateLimitMax',
    'rateLimitWindowMs', 'redisKeyPrefix', 'redisUrl', 'retentionDays', 'retentionIntervalMs', 'retentionMaxExecutions',
    'shedMaxEventLoopDelayMs', 'shedMaxHeapUsedBytes', 'shedMaxRssBytes', 'shedSampleIntervalMs', 'shutdownGraceMs', 'store', 'storeCacheMaxBytes',
    'streamFlushIntervalMs', 'streamHeartbeatMs', 'streamMaxBufferedBytes', 'streamStallTimeoutMs',
    'streamTicketTtlMs', 'taskAllowlist', 'trustProxy', 'viewerDir'
  ])
})

t.test('DEMO_MODE is true or false; VIEWER_DIR defaults to ui/dist of the install', async (t) => {
  t.equal(loadConfig({}, cwd).demoMode, false, 'off by default')
  t.equal(loadConfig({ DEMO_MODE: 'true' }, cwd).demoMode, true)
  t.equal(loadConfig({ DEMO_MODE: 'false' }, cwd).demoMode, false)
  t.throws(() => loadConfig({ DEMO_MODE: 'yes' }, cwd), { code: 'BOLT_STREAM_INVALID_CONFIG', message: /DEMO_MODE must be one of false, true/ })
  const root = fileURLToPath(new URL('../../..', import.meta.url))
  t.equal(loadConfig({}, cwd).viewerDir, join(root, 'ui', 'dist'), 'beside package.json, wherever the process runs')
  t.equal(loadConfig({ VIEWER_DIR: 'built/viewer' }, cwd).viewerDir, join(cwd, 'built/viewer'), 'relative to the working directory')
})
