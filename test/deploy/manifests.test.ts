import { existsSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
import { parse, parseAllDocuments } from 'yaml'
import { loadConfig } from '../../services/config/load-config.js'
import { parseTokenList } from '../../services/auth/tokens.js'
import { build, ROOT } from '../helper.js'

// The deployment files, read as Kubernetes and Compose read them, held to what the service needs.

const read = (path: string): any => parse(readFileSync(join(ROOT, 'deploy', path), 'utf8'))
const defaults = loadConfig({}, ROOT)

t.test('kustomization lists manifests that exist and parse', async (t) => {
  const kustomization = read('kubernetes/kustomization.yaml')
  t.equal(kustomization.kind, 'Kustomization')
  const kinds = new Set<string>()
  for (const resource of kustomization.resources as string[]) {
    const path = join(ROOT, 'deploy/kubernetes', resource)
    t.ok(existsSync(path), `${resource} exists`)
    for (const doc of parseAllDocuments(readFileSync(path, 'utf8'))) {
      t.same(doc.errors, [], `${resource} is valid YAML`)
      kinds.add((doc.toJS() as { kind: string }).kind)
    }
  }
  t.same([...kinds].sort(), ['Deployment', 'Namespace', 'PersistentVolumeClaim', 'PodDisruptionBudget', 'Service'])
  t.notOk((kustomization.resources as string[]).some((r) => r.includes('secret')), 'the example Secret is not applied as it is')
})

t.test('the Deployment: probes on real routes, grace above the shutdown, non-root, read-only root', async (t) => {
  const deployment = read('kubernetes/deployment.yaml')
  const pod = deployment.spec.template.spec
  const [container] = pod.containers
  const env = Object.fromEntries((container.env as Array<{ name: string, value: string }>).map((e) => [e.name, e.value]))
  const config = loadConfig({ ...env, AUTH_TOKENS_FILE: '' }, ROOT)
  const preStop = Number(container.lifecycle.preStop.exec.command[1])
  t.ok(pod.terminationGracePeriodSeconds * 1000 > preStop * 1000 + config.shutdownGraceMs + config.boltKillGraceMs,
    `termination grace ${pod.terminationGracePeriodSeconds} s > preStop + SHUTDOWN_GRACE_MS + BOLT_KILL_GRACE_MS`)
  t.equal(config.shutdownGraceMs, defaults.shutdownGraceMs)

  const app = await build(t)
  for (const probe of ['startupProbe', 'readinessProbe', 'livenessProbe']) {
    const path = container[probe].httpGet.path as string
    t.ok(app.routes().some((r) => r.method === 'GET' && r.url === path), `${probe}: GET ${path} is a route`)
  }
  t.equal(container.readinessProbe.httpGet.path, '/health/ready')
  t.equal(container.livenessProbe.httpGet.path, '/health/live', 'liveness never depends on Bolt or load')
  t.equal(pod.securityContext.runAsNonRoot, true)
  t.equal(container.securityContext.readOnlyRootFilesystem, true)
  t.equal(container.securityContext.allowPrivilegeEscalation, false)
  const mounts = (container.volumeMounts as Array<{ mountPath: string }>).map((m) => m.mountPath)
  for (const writable of ['/app/data', '/tmp', '/home/bolt-stream']) t.ok(mounts.includes(writable), `${writable} is a volume`)
  t.ok(container.resources.requests.memory && container.resources.limits.memory, 'resources set')
  t.equal(String(container.ports.find((p: any) => p.name === 'metrics').containerPort), env.METRICS_PORT, 'the metrics port is METRICS_PORT')
  t.equal(deployment.spec.strategy.type, 'Recreate', 'never two pods on the one database')

  const pdb = read('kubernetes/pdb.yaml')
  t.same(pdb.spec.selector.matchLabels, deployment.spec.selector.matchLabels, 'the PDB selects the pods')
  const service = read('kubernetes/service.yaml')
  t.same(service.spec.selector, deployment.spec.selector.matchLabels, 'the Service selects the pods')
  const secret = read('kubernetes/secret.example.yaml')
  const volume = pod.volumes.find((v: any) => v.secret !== undefined)
  t.equal(volume.secret.secretName, secret.metadata.name, 'the Deployment mounts the token Secret')
  t.equal(parseTokenList(secret.stringData.tokens, 'AUTH_TOKENS_FILE').length, 2, 'its example is in the token file format')
})

t.test('compose: the service and nginx with the shipped configuration', async (t) => {
  const compose = read('compose.yaml')
  const nginxConf = readFileSync(join(ROOT, 'deploy/nginx/bolt-stream.conf'), 'utf8')
  const upstream = /server ([a-z0-9-]+):(\d+);/.exec(nginxConf)
  t.ok(upstream !== null)
  t.ok(compose.services[upstream![1]], `the upstream ${upstream![1]} is a compose service`)
  t.equal(Number(upstream![2]), defaults.port, 'on the service\'s port')
  t.ok((compose.services.nginx.volumes as string[]).some((v) => v.startsWith('./nginx/bolt-stream.conf:')), 'nginx runs deploy/nginx/bolt-stream.conf')
  const service = compose.services['bolt-stream']
  t.ok(Number.parseInt(service.stop_grace_period) * 1000 > defaults.shutdownGraceMs + defaults.boltKillGraceMs, 'stop grace above the shutdown')
  t.equal(service.read_only, true)
  t.equal(service.environment.TRUST_PROXY, compose.networks.internal.ipam.config[0].subnet, 'trusts the network nginx is on')
  t.doesNotThrow(() => loadConfig({ TRUST_PROXY: service.environment.TRUST_PROXY }, ROOT), 'a valid TRUST_PROXY')
  t.match(nginxConf, /proxy_buffering off;/)
  t.match(nginxConf, /proxy_http_version 1\.1;/)
  const readTimeout = Number(/location ~ \^\/api\/executions[^{]*\{[^}]*proxy_read_timeout (\d+)s;/.exec(nginxConf)?.[1])
  t.ok(readTimeout * 1000 > defaults.streamHeartbeatMs * 2, `the streams' read timeout (${readTimeout} s) is well above the heartbeat`)
})
