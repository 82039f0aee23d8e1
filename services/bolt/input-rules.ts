import {
  COMMAND_PATTERN, MAX_COMMAND_LENGTH, MAX_PACKAGE_TOKEN_LENGTH, MAX_TARGET_LENGTH, PACKAGE_TOKEN_PATTERN,
  PUPPET_ENVIRONMENT_PATTERN, PUPPET_TAG_PATTERN, TARGET_PATTERN, TASK_NAME_PATTERN, TASK_PARAM_NAME_PATTERN
} from '../../schemas/index.js'

// The API's input rules (schemas/input-rules.ts) as predicates, for the argument builder, which
// checks again what the schemas already refused so that it stays safe on its own.

const target = new RegExp(TARGET_PATTERN)
const taskName = new RegExp(TASK_NAME_PATTERN)
const paramName = new RegExp(TASK_PARAM_NAME_PATTERN)
const environment = new RegExp(PUPPET_ENVIRONMENT_PATTERN)
const tag = new RegExp(PUPPET_TAG_PATTERN)
const packageToken = new RegExp(PACKAGE_TOKEN_PATTERN)
const command = new RegExp(COMMAND_PATTERN, 'u')

export const isValidTarget = (value: string): boolean => value.length <= MAX_TARGET_LENGTH && target.test(value)
export const isValidTaskName = (value: string): boolean => taskName.test(value)
export const isValidTaskParamName = (value: string): boolean => paramName.test(value)
export const isValidEnvironment = (value: string): boolean => environment.test(value)
export const isValidTag = (value: string): boolean => tag.test(value)
export const isValidPackageToken = (value: string): boolean =>
  value.length <= MAX_PACKAGE_TOKEN_LENGTH && packageToken.test(value)
export const isValidCommand = (value: string): boolean =>
  value.length > 0 && (value.length <= MAX_COMMAND_LENGTH || codePoints(value) <= MAX_COMMAND_LENGTH) && command.test(value)

/** Characters as the README and JSON Schema's maxLength count them: code points, not UTF-16 units. */
function codePoints (value: string): number {
  let count = value.length
  // Each surrogate pair is two UTF-16 units but one code point.
  for (let i = 0; i < value.length - 1; i++) {
    const unit = value.charCodeAt(i)
    if (unit >= 0xd800 && unit <= 0xdbff) {
      const next = value.charCodeAt(i + 1)
      if (next >= 0xdc00 && next <= 0xdfff) {
        count--
        i++
      }
    }
  }
  return count
}
