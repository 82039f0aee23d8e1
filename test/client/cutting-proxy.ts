import { createServer, connect, type Server, type Socket } from 'node:net'

/** A deterministic random source in [0, 1) (mulberry32), so a failing cut pattern can be replayed. */
export function seededRandom (seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6D2B79F5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

export interface CuttingProxy {
  url: string
  /** Connections cut so far. */
  cuts: () => number
  close: () => Promise<void>
}

/**
 * A TCP proxy in front of the service that cuts each connection after a random number of bytes
 * sent back to the client (between `minBytes` and `maxBytes`): mid-header, mid-frame, mid-character.
 */
export async function cuttingProxy (upstreamPort: number, options: { seed: number, minBytes: number, maxBytes: number }): Promise<CuttingProxy> {
  const random = seededRandom(options.seed)
  const sockets = new Set<Socket>()
  let cuts = 0
  const server: Server = createServer((client) => {
    const upstream = connect(upstreamPort, '127.0.0.1')
    sockets.add(client)
    sockets.add(upstream)
    // Mostly short connections, now and then a long one (a terminal event with results is large).
    let budget = options.minBytes + Math.floor(random() ** 2 * (options.maxBytes - options.minBytes))
    const close = (): void => { client.destroy(); upstream.destroy(); sockets.delete(client); sockets.delete(upstream) }
    upstream.on('data', (chunk: Buffer) => {
      if (chunk.length < budget) {
        budget -= chunk.length
        client.write(chunk)
        return
      }
      // Everything up to the cut reaches the client, then the connection ends (FIN, as a proxy's timeout).
      cuts += 1
      upstream.destroy()
      client.end(chunk.subarray(0, budget))
    })
    client.on('data', (chunk: Buffer) => upstream.write(chunk))
    client.on('error', close)
    upstream.on('error', close)
    client.on('close', close)
    upstream.on('close', close)
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const address = server.address()
  if (address === null || typeof address === 'string') throw new Error('no address')
  return {
    url: `http://127.0.0.1:${address.port}`,
    cuts: () => cuts,
    close: async () => {
      for (const s of sockets) s.destroy()
      await new Promise<void>((resolve) => server.close(() => resolve()))
    }
  }
}
