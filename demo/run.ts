import { startDemo } from './demo-service.js'

// `npm run demo`: the service with the Bolt stand-in on the demo project, until Ctrl-C.
try {
  const demo = await startDemo()
  console.log(`bolt-stream demo: open ${demo.url} (commands run on this machine through a Bolt stand-in; Ctrl-C stops it)`)
  for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => { void demo.stop() })
  process.exitCode = (await demo.exited) ?? 0
} catch (err) {
  console.error(`bolt-stream demo: ${(err as Error).message}`)
  process.exitCode = 1
}
