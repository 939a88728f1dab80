import { defineConfig } from 'vitest/config';

// Test files share one set of real services (started by infra/test.sh), and several
// stop or freeze Kafka: run them one at a time.
export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    fileParallelism: false,
    testTimeout: 90_000,
    hookTimeout: 120_000,
    reporters: ['default'],
  },
});
