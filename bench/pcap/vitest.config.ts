import { defineConfig } from 'vitest/config';

// The benchmark lives outside test/: run it on purpose, alone.
export default defineConfig({ test: { include: ['bench/pcap/*.test.ts'], testTimeout: 1_800_000, fileParallelism: false } });
