import t from 'tap'
import { groupsFrom, planFrom, summariesFrom, targetsFrom, taskFrom } from '../../../services/discovery/mapping.js'

t.test('the default of a sensitive or secret-named parameter is never shown', async (t) => {
  const task = taskFrom({
    name: 'm::t',
    files: [{ name: 't.sh', path: '/srv/p/modules/m/tasks/t.sh' }],
    metadata: {
      private: true,
      parameters: {
        key: { type: 'String', sensitive: true, default: 'hidden-1' },
        db_password: { type: 'String', default: 'hidden-2' },
        size: { type: 'Integer', default: 3 }
      }
    },
    module_dir: '/srv/p/modules/m'
  })
  t.same(task.parameters.map((p) => p.default), ['[REDACTED]', '[REDACTED]', 3])
  t.equal(task.private, true)
  t.notMatch(JSON.stringify(task), /hidden|\/srv/)
  const plan = planFrom({ name: 'm::p', parameters: { token: { type: 'String', sensitive: false, default_value: "'abc'" } } }, 'puppet')
  t.equal(plan.parameters[0].default, '[REDACTED]')
})

const SHAPE = { name: 'DocumentShapeError' }

t.test('documents of another shape are refused, not guessed at', async (t) => {
  t.throws(() => summariesFrom({ modulepath: [] }, 'tasks'), SHAPE)
  t.throws(() => summariesFrom({ tasks: [{ name: 'x' }] }, 'tasks'), SHAPE)
  t.throws(() => taskFrom({ metadata: {} }), SHAPE)
  t.throws(() => targetsFrom({ targets: ['web1'] }), SHAPE, 'names only: --detail was not applied')
  t.throws(() => groupsFrom({ count: 0 }), SHAPE)
})
