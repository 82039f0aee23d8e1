import { TaskBody } from '../../../schemas/index.js'
import { operationRoute } from '../operation-route.js'

export default operationRoute({
  url: '/tasks',
  summary: 'Run a Bolt task on the targets',
  body: TaskBody,
  toSpec: ({ targets, task, params }) => ({ type: 'task', targets, task, params })
})
