import { readFileSync, writeFileSync } from 'node:fs'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { choices, SETTING_NAMES, settingSchema, type SettingSchema } from '../services/config/settings.js'

// `npm run docs`: writes the README's configuration table from services/config/settings.ts,
// between the marker comments. The prose around the table is the README's own.

export const README = fileURLToPath(new URL('../README.md', import.meta.url))
export const START = '<!-- config:start: generated from services/config/settings.ts by `npm run docs`; edit there -->'
export const END = '<!-- config:end -->'

/** The Markdown table of every setting, in declaration order. */
export function configTable (): string {
  const rows = SETTING_NAMES.map((name) => {
    const schema = settingSchema(name)
    return [`\`${name}\``, defaultText(schema), allowedText(schema), schema.description]
  })
  return [
    '| Variable | Default | Allowed | Meaning |',
    '|---|---|---|---|',
    ...rows.map((cells) => `| ${cells.map(cell).join(' | ')} |`)
  ].join('\n')
}

function defaultText (schema: SettingSchema): string {
  if (schema.docDefault !== undefined) return schema.docDefault
  return schema.default === '' ? '(none)' : `\`${schema.default}\``
}

function allowedText (schema: SettingSchema): string {
  if (schema.type === 'integer') return `${schema.minimum}–${schema.maximum}`
  return choices(schema)?.map((value) => `\`${value}\``).join(' ') ?? ''
}

/** A table cell: one line, pipes escaped (also inside code spans, as GitHub's tables need). */
function cell (text: string): string {
  return text.replace(/\s*\n\s*/g, ' ').replace(/\|/g, '\\|')
}

/** The README with the table between the markers replaced by the current one. */
export function withConfigTable (readme: string): string {
  const start = readme.indexOf(START)
  const end = readme.indexOf(END)
  if (start === -1 || end === -1 || end < start) throw new Error(`README.md needs the markers ${START} and ${END}`)
  return `${readme.slice(0, start + START.length)}\n\n${configTable()}\n\n${readme.slice(end)}`
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const before = readFileSync(README, 'utf8')
  const after = withConfigTable(before)
  if (after === before) {
    console.log('README.md: the configuration table is up to date')
  } else {
    writeFileSync(README, after)
    console.log('README.md: the configuration table was rewritten')
  }
}
