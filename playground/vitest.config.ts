import { defineProject } from 'vitest/config';

// The browser tests: headless Chromium through playwright-core (see test/harness.ts). Run with `npm test -w @oclt/playground`.
export default defineProject({
  resolve: { conditions: ['source'] },
  ssr: { resolve: { conditions: ['source'] } },
  test: { name: 'playground', include: ['test/**/*.test.ts'], testTimeout: 240_000, hookTimeout: 240_000, fileParallelism: false },
});
