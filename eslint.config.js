import neostandard, { resolveIgnoresFromGitignore } from 'neostandard'
import importX, { createNodeResolver } from 'eslint-plugin-import-x'

// The layers: schemas/ (the API contract) and services/ (plain TypeScript) never reach up into
// the Fastify wiring. Fastify itself stays out of both (@fastify/error is a standalone package).
const FASTIFY_IMPORTS = {
  paths: [
    { name: 'fastify', message: 'services/ and schemas/ are plain TypeScript: wire them in plugins/.' },
    { name: 'fastify-plugin', message: 'services/ and schemas/ are plain TypeScript: wire them in plugins/.' }
  ],
  patterns: [{ group: ['@fastify/*', '!@fastify/error'], message: 'services/ and schemas/ are plain TypeScript: wire them in plugins/.' }]
}

export default [
  ...neostandard({ ts: true, ignores: [...resolveIgnoresFromGitignore(), 'dist/**', 'ui/dist/**', 'coverage/**', '.tap/**'] }),
  {
    files: ['**/*.ts', '**/*.mts', '**/*.js', '**/*.mjs'],
    plugins: { 'import-x': importX },
    settings: {
      'import-x/resolver-next': [createNodeResolver({ extensionAlias: { '.js': ['.ts', '.js'] } })]
    },
    rules: {
      // `void promise` marks a promise deliberately not awaited (fire and forget, errors handled inside).
      'no-void': ['error', { allowAsStatement: true }],
      'import-x/no-restricted-paths': ['error', {
        zones: [
          { target: './services', from: ['./plugins', './routes', './app.ts', './server.ts'], message: 'services/ must not depend on the Fastify layers' },
          { target: './schemas', from: ['./plugins', './routes', './services', './app.ts', './server.ts'], message: 'schemas/ is the contract: it depends on nothing of ours' }
        ]
      }]
    }
  },
  {
    // TypeBox's convention: a schema and its Static<> type share one name.
    files: ['schemas/**'],
    rules: { '@typescript-eslint/no-redeclare': 'off' }
  },
  {
    files: ['services/**', 'schemas/**'],
    rules: { 'no-restricted-imports': ['error', FASTIFY_IMPORTS] }
  }
]
