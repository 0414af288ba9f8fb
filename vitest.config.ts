import { defineConfig } from 'vitest/config';

// Two projects: `unit` never touches the network; `integration` runs against real Kafka, a real schema registry
// and real ClickHouse, provided by test/global-setup.ts (external, containers or local processes).
export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: 'unit',
          include: ['{core,cli,connectors,reconcile,transforms,sinks,simulators,schemas,test,infra,bench,app}/**/*.test.ts'],
          exclude: ['**/*.int.test.ts', '**/node_modules/**'],
          env: { TZ: 'UTC' },
          setupFiles: ['test/temp-root.ts'],
          // A few unit tests start the CLI as a child process; on a loaded 2-core machine that alone can pass 5 s.
          testTimeout: 30_000,
          // Both cores (vitest's default leaves one idle on a 2-core machine: the unit files ran one at a time, 242 s
          // of CI's run; two at a time 127 s), and all of them before the first integration file starts.
          maxWorkers: 2,
          sequence: { groupOrder: 0 },
        },
      },
      {
        test: {
          name: 'integration',
          include: ['**/*.int.test.ts'],
          exclude: ['**/node_modules/**'],
          globalSetup: ['test/global-setup.ts'],
          setupFiles: ['test/temp-root.ts'],
          env: { TZ: 'UTC' },
          testTimeout: 120_000,
          hookTimeout: 300_000,
          // The broker, registry and embedded ClickHouse are shared; files run one at a time so a 2-core
          // machine is not oversubscribed and timings stay honest.
          fileParallelism: false,
          sequence: { groupOrder: 1 },
        },
      },
    ],
  },
});
