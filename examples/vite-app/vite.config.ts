import { defineConfig } from 'vite';

export default defineConfig({
  // In `vite dev`, pre-bundling would move tidesync.js away from its .wasm
  // file; excluded, it loads tidesync_bg.wasm next to itself. A production
  // build needs nothing: Vite emits the .wasm as an asset.
  optimizeDeps: { exclude: ['tidesync'] },
  build: { target: 'es2022' },
});
