import { defineConfig } from 'vitest/config';

// Tiers by file name: *.unit.test.ts are pure; *.int.test.ts and *.e2e.test.ts run against real Kafka
// and PostgreSQL, started once per run by test/support/global-setup.ts.
export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: 'unit',
          include: ['{services,gateway,test}/**/*.unit.test.ts'],
          sequence: { groupOrder: 0 },
        },
      },
      {
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
