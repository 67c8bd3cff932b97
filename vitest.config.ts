import { defineConfig } from 'vitest/config';

/**
 * Two projects; `npm test` (vitest run) runs both.
 *
 * - `timing`: tests that measure latency or wall time on loopback, bind
 *   servers whose delays are the thing measured, use network namespaces or
 *   run tcpdump on lo. One file at a time, after everything else
 *   (sequence.groupOrder), so they never share the cores with other test files.
 *   Tolerances in them derive from the run itself (the server's hold times,
 *   the wire, the loop's own lag), not from an idle machine.
 * - `unit`: parsers, decoders, corpus and fuzz runs, CLI exit codes: no clock
 *   in their assertions, so their files run in parallel.
 *
 * `npx vitest run --project timing` runs one project alone.
 */
const TIMING = [
  'test/probes/dns-accuracy.test.ts',
  'test/probes/dns.test.ts',
  'test/probes/dns-edns.test.ts',
  'test/probes/dns-workers.test.ts',
  'test/probes/dns-secure.test.ts',
  'test/probes/dns-secure-wire.test.ts',
  'test/probes/tcp-cli.test.ts',
  'test/probes/tcp-connect.test.ts',
  'test/probes/tcp-load.test.ts',
  'test/probes/tcp-netns.test.ts',
  'test/probes/tls-cli.test.ts',
  'test/probes/tls-probe.test.ts',
  'test/probes/tls-raw.test.ts',
  'test/probes/tls-raw-cli.test.ts',
  'test/probes/tls-raw-wire.test.ts',
  'test/probes/starttls.test.ts',
  'test/probes/proxy.test.ts',
  'test/probes/cert-chain.test.ts',
  'test/probes/tls-wire.test.ts',
  'test/probes/tls-split.test.ts',
  'test/probes/failed-attempt-times.test.ts',
  'test/engine/open-loop.test.ts',
  'test/engine/properties.test.ts',
  'test/engine/run.test.ts',
  'test/engine/adaptive.test.ts',
  'test/engine/workers.test.ts',
  'test/lab/**/*.test.ts',
  'test/checks/check-cli.test.ts',
  'test/checks/dns-transport-check.test.ts',
  'test/checks/serve.test.ts',
  'test/checks/netns.test.ts',
  'test/checks/low-ulimit.test.ts',
  'test/diagnose/diagnose-cli.test.ts',
  'test/diagnose/diagnose-h2.test.ts',
  'test/diagnose/next-checks.test.ts',
  'test/diagnose/diagnose-capture.test.ts',
  'test/capture/loopback-capture.test.ts',
  'test/capture/self-agreement.test.ts',
  'test/capture/self-agreement-attempts.test.ts',
  'test/cli/pacing.test.ts',
  'test/cli/width.test.ts',
  'test/diagnose/phase-agreement.test.ts',
  'test/capture/pcap-stdin.test.ts',
  'test/capture/netns-attempts.test.ts',
  'test/capture/flow-memory.test.ts',
  'test/demo.test.ts',
  'test/hostile/**/*.test.ts',
  'test/signals/**/*.test.ts',
];

export default defineConfig({
  test: {
    // Generous on purpose: these only catch a hang. At load 17 (the suite under stress-ng
    // beside other runs) node's start-up alone took seconds and tests that run the CLI six
    // times passed 30 s; no accuracy bound rests on these.
    testTimeout: 120_000,
    hookTimeout: 120_000,
    reporters: ['default'],
    projects: [
      {
        extends: true,
        test: {
          name: 'unit',
          include: ['test/**/*.test.ts'],
          exclude: TIMING,
          fileParallelism: true,
          sequence: { groupOrder: 0 },
        },
      },
      {
        extends: true,
        test: {
          name: 'timing',
          include: TIMING,
          fileParallelism: false,
          sequence: { groupOrder: 1 },
        },
      },
    ],
  },
});
