// Input rules of the API, shared by the request schemas and the Bolt argument builder, so a
// value the API accepts can never become a Bolt option, a file reference (`@file`), stdin (`-`)
// or a glob.

const SCHEME = '[a-z][a-z0-9+.-]{0,15}://'
const USER = '[A-Za-z0-9_][A-Za-z0-9._-]{0,63}@'
const HOST = '[A-Za-z0-9_][A-Za-z0-9._-]{0,252}'
const IPV6 = '\\[[0-9A-Fa-f:.]{2,45}\\]'
/** 1 to 65535, without leading zeros. */
const PORT = ':(?:[1-9][0-9]{0,3}|[1-5][0-9]{4}|6[0-4][0-9]{3}|65[0-4][0-9]{2}|655[0-2][0-9]|6553[0-5])'
/**
 * Optional `scheme://`, optional `user@`, a host (name or IPv4), optional `:port`; or an `[IPv6]`
 * host after a scheme (`ssh://[::1]:22`). Bolt reads a bare `[::1]` as a glob pattern (and fails
 * with `bolt.inventory/wildcard-error`); with a scheme it takes the URI as it is.
 */
export const TARGET_PATTERN = `^(?:(?:${SCHEME})?(?:${USER})?${HOST}|${SCHEME}(?:${USER})?${IPV6})(?:${PORT})?$`
export const TASK_NAME_PATTERN = '^[a-z][a-z0-9_]*(?:::[a-z][a-z0-9_]*)*$'
export const TASK_PARAM_NAME_PATTERN = '^[a-z][a-z0-9_]*$'
export const PUPPET_ENVIRONMENT_PATTERN = '^[a-z0-9_]+$'
export const PUPPET_TAG_PATTERN = '^[a-z0-9_][a-z0-9_:.-]*$'
export const PACKAGE_TOKEN_PATTERN = '^[A-Za-z0-9][A-Za-z0-9_.+:~-]*$'
/** Not `-`-led or `@`-led (options, files, stdin), no NUL anywhere. */
export const COMMAND_PATTERN = '^(?![-@])[^\\u0000]+$'

export const MAX_TARGETS = 100
export const MAX_TARGET_LENGTH = 300
export const MAX_COMMAND_LENGTH = 8192
/** How deep task params may nest (objects and arrays), the params object itself counting as one. */
export const MAX_PARAMS_DEPTH = 64
export const MAX_TAGS = 50
export const MAX_PACKAGE_TOKEN_LENGTH = 256
export const PACKAGE_ACTIONS = ['install', 'uninstall', 'upgrade', 'status'] as const
export type PackageAction = (typeof PACKAGE_ACTIONS)[number]
