import { fileURLToPath } from 'node:url'
import { svelte } from '@sveltejs/vite-plugin-svelte'
import { defineConfig } from 'vite'

// The viewer: built into ui/dist, served by the service (routes/viewer/). Assets are hashed and
// live under /assets/; nothing is inlined, so the pages run under a CSP without 'unsafe-inline'.
export default defineConfig({
  root: fileURLToPath(new URL('.', import.meta.url)),
  base: '/',
  plugins: [svelte()],
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    assetsDir: 'assets',
    assetsInlineLimit: 0,
    sourcemap: true,
    // The modulepreload polyfill would be one more thing to trust; every supported browser has it.
    modulePreload: { polyfill: false },
    reportCompressedSize: true
  }
})
