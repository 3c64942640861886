import { defineConfig } from 'vitest/config';

// Every package is tested from its TypeScript sources: the `source` export condition
// points each @oclt/* import at src/, so tests never need a prior build.
export default defineConfig({
  resolve: { conditions: ['source'] },
  ssr: { resolve: { conditions: ['source'] } },
  test: {
    projects: ['packages/*', 'bench', 'docs'],
  },
});
