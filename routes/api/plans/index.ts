import { PlanBody } from '../../../schemas/index.js'
import { operationRoute } from '../operation-route.js'

export default operationRoute({
  url: '/plans',
  summary: 'Run a Bolt plan (on the targets, when given)',
  body: PlanBody,
  toSpec: ({ plan, params, targets = [] }) => ({ type: 'plan', targets, plan, params })
})
