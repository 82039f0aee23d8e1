import { join } from 'node:path'
import fastifyStatic from '@fastify/static'
import fp from 'fastify-plugin'

export interface ViewerStaticOptions {
  /** The built viewer's directory (ui/dist). */
  root: string
}

// The viewer's built assets under /assets/ (Vite names them by content hash, so they never change:
// cached for a year). `reply.sendFile(file, root)` serves the pages' index.html.
export default fp<ViewerStaticOptions>(async function viewerStatic (fastify, opts) {
  await fastify.register(fastifyStatic, {
    root: join(opts.root, 'assets'),
    prefix: '/assets/',
    wildcard: true,
    index: false,
    dotfiles: 'deny',
    immutable: true,
    maxAge: '365d'
  })
}, { name: 'viewer-static', fastify: '5.x' })
