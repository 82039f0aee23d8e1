import { CommandBody } from '../../../schemas/index.js'
import { operationRoute } from '../operation-route.js'

export default operationRoute({
  url: '/commands',
  summary: 'Run a shell command on the targets',
  body: CommandBody,
  toSpec: ({ targets, command }) => ({ type: 'command', targets, command })
})
