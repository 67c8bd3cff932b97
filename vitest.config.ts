import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 30_000,
    hookTimeout: 30_000,
    // Timing tests measure real latency on loopback: keep files from
    // fighting over the two cores.
    fileParallelism: false,
    reporters: ['default'],
  },
});
