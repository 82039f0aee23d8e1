// Input rules of the API, shared by the request schemas and the Bolt argument builder, so a
// value the API accepts can never become a Bolt option, a file reference (`@file`), stdin (`-`)
// or a glob.

/** Optional `scheme://`, optional `user@`, a host (name, IPv4 or [IPv6]), optional `:port`. */
export const TARGET_PATTERN =
  '^(?:[a-z][a-z0-9+.-]{0,15}://)?(?:[A-Za-z0-9_][A-Za-z0-9._-]{0,63}@)?(?:[A-Za-z0-9_][A-Za-z0-9._-]{0,252}|\\[[0-9A-Fa-f:.]{2,45}\\])(?::[0-9]{1,5})?$'
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
export const MAX_TAGS = 50
export const MAX_PACKAGE_TOKEN_LENGTH = 256
export const PACKAGE_ACTIONS = ['install', 'uninstall', 'upgrade', 'status'] as const
export type PackageAction = (typeof PACKAGE_ACTIONS)[number]
