import { defineConfig } from 'vite';

/** The headers that make the page cross-origin isolated (SharedArrayBuffer: the kernels' threads). */
const isolation = { 'Cross-Origin-Opener-Policy': 'same-origin', 'Cross-Origin-Embedder-Policy': 'require-corp' };

export default defineConfig({
  // The workspace packages from their TypeScript sources (their `source` export condition).
  resolve: { conditions: ['source', 'module', 'browser', 'development|production'] },
  worker: { format: 'es' },
  server: { headers: isolation, port: 5173 },
  preview: { headers: isolation, port: 4173 },
  build: { target: 'es2022', outDir: 'dist', emptyOutDir: true },
});
