import t from 'tap'
import { buildBoltInvocation, isSecretName } from '../../../services/bolt/arguments.js'
import { redactSecrets, redactText } from '../../../services/discovery/redaction.js'

const NAMES = ['password', 'db_pass', 'passwd', 'passphrase', 'secret', 'client_secret', 'token', 'api_key', 'apikey',
  'private_key', 'credentials', 'user', 'host', 'port', 'env', 'tier', 'role', 'datacenter', 'key', 'name']

t.test('the secret-name rule is the one task parameters are redacted by', async (t) => {
  for (const name of NAMES) {
    const { display } = buildBoltInvocation({ type: 'task', targets: ['a'], task: 'x', params: { [name]: 'v' } },
      { projectDir: '/p', puppetAgentCommand: 'puppet agent', puppetRunAs: null })
    t.equal(isSecretName(name), display.includes(`"${name}":"[REDACTED]"`), name)
  }
  t.ok(isSecretName('private-key'), "Bolt's hyphenated spelling too")
  t.ok(isSecretName('sudo-password'))
  const { display } = buildBoltInvocation({ type: 'task', targets: ['a'], task: 'x', params: { conn: { 'private-key': 'k', host: 'h' } } },
    { projectDir: '/p', puppetAgentCommand: 'puppet agent', puppetRunAs: null })
  t.match(display, '{"conn":{"private-key":"[REDACTED]","host":"h"}}', 'a hyphenated key nested in a parameter is redacted in the command line')
})

t.test('redactSecrets: keys at any depth, URL passwords and PEM private keys in values', async (t) => {
  t.same(redactSecrets({
    a: { b: [{ token: 'x' }, 'https://u:pw@h/p'] },
    k: '-----BEGIN EC PRIVATE KEY-----\nabc\n-----END EC PRIVATE KEY-----',
    n: 3,
    plain: 'kept'
  }), { a: { b: [{ token: '[REDACTED]' }, 'https://u:[REDACTED]@h/p'] }, k: '[REDACTED]', n: 3, plain: 'kept' })
  t.equal(redactText('ssh://root:s3cret@db'), 'ssh://root:[REDACTED]@db')
  const proto = redactSecrets(JSON.parse('{"__proto__": {"password": "x"}}')) as Record<string, unknown>
  t.same(Object.getPrototypeOf(proto), Object.prototype, 'a __proto__ key stays a key')
  t.same(Object.getOwnPropertyDescriptor(proto, '__proto__')?.value, { password: '[REDACTED]' })
})
