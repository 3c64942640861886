import { defineProject } from 'vitest/config';

export default defineProject({
  resolve: { conditions: ['source'] },
  ssr: { resolve: { conditions: ['source'] } },
  test: { name: 'docs', setupFiles: ['../vitest.setup.ts'], include: ['*.test.ts'], testTimeout: 120_000 },
});
