import { PuppetRunBody } from '../../../schemas/index.js'
import { operationRoute } from '../operation-route.js'

export default operationRoute({
  url: '/puppet-runs',
  summary: 'Run the Puppet agent on the targets',
  body: PuppetRunBody,
  toSpec: ({ targets, noop, environment, tags }) => ({ type: 'puppet', targets, noop, environment, tags })
})
