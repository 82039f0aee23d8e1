import { PackageBody } from '../../../schemas/index.js'
import { operationRoute } from '../operation-route.js'

export default operationRoute({
  url: '/packages',
  summary: 'Install, remove, upgrade or inspect a package on the targets',
  body: PackageBody,
  toSpec: ({ targets, name, action = 'install', version }) => ({ type: 'package', targets, name, action, version })
})
