import { defineConfig } from 'vite';

export default defineConfig({
  // Not needed with Vite 8 (dev and build both load tidesync_bg.wasm next
  // to tidesync.js); kept because older Vite versions' dependency
  // pre-bundling moved the module away from its .wasm in dev.
  optimizeDeps: { exclude: ['tidesync'] },
  build: { target: 'es2022' },
});
