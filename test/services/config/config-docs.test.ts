import { readFileSync } from 'node:fs'
import t from 'tap'
import { configTable, END, README, START, withConfigTable } from '../../../scripts/config-docs.js'
import { SETTING_NAMES, settingSchema } from '../../../services/config/settings.js'

t.test("the README's configuration table is the one the schema gives (else run `npm run docs`)", async (t) => {
  const readme = readFileSync(README, 'utf8')
  const start = readme.indexOf(START)
  const end = readme.indexOf(END)
  t.ok(start !== -1 && end > start, 'the README has the markers')
  const current = readme.slice(start + START.length, end).trim()
  t.equal(current, configTable(), 'README.md is out of date: run `npm run docs`')
})

t.test('every setting has a row, a description, and its bounds or choices', async (t) => {
  const rows = configTable().split('\n').slice(2)
  t.equal(rows.length, SETTING_NAMES.length)
  for (const [i, name] of SETTING_NAMES.entries()) {
    const schema = settingSchema(name)
    t.ok(rows[i].startsWith(`| \`${name}\` |`), `${name}: its row, in declaration order`)
    t.ok(schema.description.length > 0, `${name}: described`)
    if (schema.type === 'integer') t.match(rows[i], ` | ${schema.minimum}–${schema.maximum} | `, `${name}: bounds shown`)
  }
  const maxOutput = rows.find((r) => r.startsWith('| `MAX_OUTPUT_BYTES` |'))
  t.match(maxOutput, '| `10485760` | 1024–4294967296 |', 'the minimum of MAX_OUTPUT_BYTES is documented')
  t.match(maxOutput, 'at least 1024 (', 'its description states the minimum and why')
  t.match(rows.find((r) => r.startsWith('| `STORE` |')), '| `sqlite` | `sqlite` `memory` `redis` |', 'choices shown')
  t.match(rows.find((r) => r.startsWith('| `COMMAND_ALLOWLIST` |')), '(`uptime\\|df -h`)', 'pipes escaped')
})

t.test('only the table between the markers is rewritten', async (t) => {
  const readme = `# Title\n\nprose above\n\n${START}\n\n| stale |\n\n${END}\n\nprose below\n`
  const updated = withConfigTable(readme)
  t.ok(updated.startsWith(`# Title\n\nprose above\n\n${START}\n\n| Variable | Default | Allowed | Meaning |`))
  t.ok(updated.endsWith(`|\n\n${END}\n\nprose below\n`))
  t.notMatch(updated, 'stale')
  t.equal(withConfigTable(updated), updated, 'idempotent')
  t.throws(() => withConfigTable('# no markers\n'), /needs the markers/)
})
