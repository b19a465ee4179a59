import { createRequire } from 'node:module';
import { defineConfig } from 'vitest/config';

// Node loads graphql-js's CommonJS build (its package has no "exports"), and so do the libraries that build the
// schema; Vite would hand our own sources the ESM build, and graphql-js refuses types from the other copy.
const resolve = { alias: [{ find: /^graphql$/, replacement: createRequire(import.meta.url).resolve('graphql') }] };

// Tiers by file name: *.unit.test.ts are pure; *.int.test.ts and *.e2e.test.ts run against real Kafka
// and PostgreSQL, started once per run by test/support/global-setup.ts.
export default defineConfig({
  test: {
    projects: [
      {
        resolve,
        test: {
          name: 'unit',
          include: ['{services,gateway,test}/**/*.unit.test.ts'],
          sequence: { groupOrder: 0 },
        },
      },
      {
        resolve,
        test: {
          name: 'integration',
          sequence: { groupOrder: 1 },
          include: ['test/**/*.{int,e2e}.test.ts'],
          globalSetup: ['test/support/global-setup.ts'],
          testTimeout: 90_000,
          hookTimeout: 120_000,
          pool: 'forks',
          maxWorkers: 2,
        },
      },
    ],
  },
});
