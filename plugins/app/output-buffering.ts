import fp from 'fastify-plugin'
import { bufferOutput, type BufferedCallback } from '../../services/executions/output-buffering.js'
import type { StreamingCallback } from '../../services/streaming/streaming-callback.js'

declare module 'fastify' {
  interface FastifyInstance {
    /** The buffering hook: batches an execution's output chunks every STREAM_FLUSH_INTERVAL_MS. */
    outputBuffering: { wrap: (callbacks: StreamingCallback) => BufferedCallback }
  }
}

export default fp(async function outputBuffering (fastify) {
  const intervalMs = fastify.config.streamFlushIntervalMs
  const open = new Set<BufferedCallback>()
  fastify.decorate('outputBuffering', {
    wrap (callbacks: StreamingCallback): BufferedCallback {
      const buffered = bufferOutput(callbacks, intervalMs)
      open.add(buffered)
      const close = buffered.close
      buffered.close = () => {
        open.delete(buffered)
        close()
      }
      return buffered
    }
  })
  // Executions close their hook when they end; whatever is left is stopped here.
  fastify.addHook('onClose', async () => {
    for (const buffered of [...open]) buffered.close()
  })
}, { name: 'output-buffering', fastify: '5.x', dependencies: ['config'] })
