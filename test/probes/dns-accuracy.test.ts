import { execFile, execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, describe, expect, test } from 'vitest';
import { requireTool } from '../helpers/capture-env.js';
import { BIN } from '../helpers/lab.js';
import { lagOf, retryOnce } from '../helpers/timing.js';

const run = promisify(execFile);

/**
 * Accuracy against a resolver whose delays are known: 90% of replies after
 * FAST ms, 10% after SLOW ms, by arrival order. The resolver runs in its own
 * process so the probe does not share an event loop with the server it
 * measures, and conndx runs as the real executable, as a user runs it.
 *
 * Two truths:
 * - On the wire (root, tcpdump, tshark): tcpdump records the run on lo and
 *   tshark's dns.time (reply minus query, kernel timestamps) is the truth.
 *   This is the bar of the DNS issue: within 2 ms or 5%, whichever is
 *   larger, at concurrency 1 and 200, with the issue's own mix (5/100 ms).
 * - At the server (any machine): what the server measured it held each
 *   query, from its receive callback to its send. That misses the time a
 *   query waits in the server's socket before its callback runs, which at
 *   concurrency 200 is about a millisecond at p50 and several at p99 on a
 *   2-core machine (bench/dns/accuracy.mjs shows the three side by side),
 *   so the bar there is wider at concurrency 200.
 *
 * Concurrency 200 runs 20,000 queries against the wire: the first few
 * hundred milliseconds of a process run before the JIT has compiled the hot
 * path and carry its pauses. At 10,000 queries they reached the p99 (one CI
 * run: +6.6 ms over the wire); at 20,000 the p99 is 0.5-1.5 ms over it
 * (six runs), against a bar of about 5 ms.
 */
const DIST_LAB = fileURLToPath(new URL('../../dist/lab/dns.js', import.meta.url));
const nearestRank = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.max(0, Math.ceil((p / 100) * s.length) - 1)]!;
};

/** The slow-tail lab resolver in its own process; `held()` returns its hold times since the last call. */
async function startResolver(fast: number, slow: number): Promise<{ port: number; held(): Promise<number[]>; stop(): Promise<void> }> {
  const script = `import('${DIST_LAB}').then(async (m) => {
    const ep = await m.slowTailDns({ fastMs: ${fast}, slowMs: ${slow} })();
    console.log(ep.port);
    let from = 0;
    process.stdin.on('data', () => { const h = ep.info.held.slice(from); from = ep.info.held.length; console.log(JSON.stringify(h)); });
    process.stdin.on('end', () => ep.close().then(() => process.exit(0)));
  });`;
  const child: ChildProcess = spawn(process.execPath, ['-e', script], { stdio: ['pipe', 'pipe', 'inherit'] });
  let buf = '';
  const lines: string[] = [];
  let waiter: ((l: string) => void) | null = null;
  child.stdout!.on('data', (d: Buffer) => {
    buf += String(d);
    let i;
    while ((i = buf.indexOf('\n')) >= 0) {
      lines.push(buf.slice(0, i));
      buf = buf.slice(i + 1);
    }
    if (lines.length && waiter) {
      const w = waiter;
      waiter = null;
      w(lines.shift()!);
    }
  });
  const line = () =>
    new Promise<string>((r) => {
      if (lines.length) r(lines.shift()!);
      else waiter = r;
    });
  const port = Number(await line());
  return {
    port,
    async held() {
      child.stdin!.write('held\n');
      return JSON.parse(await line()) as number[];
    },
    async stop() {
      child.stdin!.end();
      if (child.exitCode === null) await once(child, 'exit');
    },
  };
}

async function conndxDns(port: number, count: number, concurrency: number) {
  const out = await run(
    process.execPath,
    [
      BIN,
      'dns',
      'lab.test',
      '--server',
      `127.0.0.1:${port}`,
      '-c',
      String(count),
      '--concurrency',
      String(concurrency),
      '--timeout',
      '2s',
      '--json',
    ],
    { maxBuffer: 1 << 24 },
  );
  return JSON.parse(out.stdout) as {
    outcomes: Record<string, number>;
    latencyMs: { min: number; p50: number; p99: number };
    timing?: { loopLagMs?: { p50: number; p99: number; max: number } };
  };
}

describe("DNS latency percentiles against the server's own hold times", () => {
  const FAST = 20;
  const SLOW = 200;
  test.each([
    [1, 100, 2, 0.05],
    [200, 4000, 4, 0.15],
  ])(
    "concurrency %i (%i queries): within %i ms or %d of the truth, plus the run's own loop lag",
    async (concurrency, count, abs, rel) => {
      // The bar widens by how late conndx's loop ran in this very run (its timing
      // block): a reply that arrives while the loop is busy is read that much later.
      // A burst of load on the server's side is not measured by either, so a miss
      // is retried once and both results are reported.
      await retryOnce(`dns accuracy at concurrency ${concurrency}`, async () => {
        const srv = await startResolver(FAST, SLOW);
        try {
          const json = await conndxDns(srv.port, count, concurrency);
          expect(json.outcomes).toEqual({ ok: count });
          const held = await srv.held();
          expect(held.length).toBe(count);
          const truth = { p50: nearestRank(held, 50), p99: nearestRank(held, 99) };
          const { p50, p99 } = json.latencyMs;
          const lag = lagOf(json);
          const bar = (t: number) => `${Math.max(abs, t * rel).toFixed(1)} ms + ${lag.toFixed(1)} ms loop lag of this run`;
          expect(
            Math.abs(p50 - truth.p50) <= Math.max(abs, truth.p50 * rel) + lag,
            `p50 ${p50} vs ${truth.p50} ms held by the server (bar ${bar(truth.p50)})`,
          ).toBe(true);
          expect(
            Math.abs(p99 - truth.p99) <= Math.max(abs, truth.p99 * rel) + lag,
            `p99 ${p99} vs ${truth.p99} ms held by the server (bar ${bar(truth.p99)})`,
          ).toBe(true);
          // and the server did what it was told
          expect(truth.p50).toBeGreaterThanOrEqual(FAST - 1);
          expect(truth.p99).toBeGreaterThanOrEqual(SLOW - 1);
          // Node timers may fire up to 1 ms early against a fresh clock reading (libuv caches loop time).
          expect(json.latencyMs.min).toBeGreaterThanOrEqual(FAST - 1);
        } finally {
          await srv.stop();
        }
      });
    },
    120_000,
  );
});

const tcpdump = requireTool('tcpdump', true);
const tshark = requireTool('tshark');
const wireReady = tcpdump.ok && tshark.ok;
const wireSkip = tcpdump.ok ? (tshark.ok ? '' : tshark.reason) : tcpdump.reason;

describe.skipIf(!wireReady)(
  `DNS latency percentiles against the wire (tcpdump on lo, tshark dns.time)${wireReady ? '' : ` (skipped: ${wireSkip})`}`,
  () => {
    const FAST = 5;
    const SLOW = 100;
    const dir = mkdtempSync(join(tmpdir(), 'conndx-dns-wire-'));
    afterAll(() => rmSync(dir, { recursive: true, force: true }));

    test.each([
      [1, 200],
      [200, 20_000],
    ])(
      "concurrency %i (%i queries): p50 and p99 within 2 ms or 5% of the wire, plus the run's own loop lag",
      async (concurrency, count) => {
        await retryOnce(`dns accuracy on the wire at concurrency ${concurrency}`, async (n) => {
          const srv = await startResolver(FAST, SLOW);
          const file = join(dir, `c${concurrency}-${n}.pcap`);
          const dump = spawn(
            'tcpdump',
            ['-i', 'lo', '-n', '--immediate-mode', '-B', '65536', '-s', '256', '-Z', 'root', '-w', file, `udp port ${srv.port}`],
            { stdio: ['ignore', 'ignore', 'pipe'] },
          );
          try {
            let err = '';
            dump.stderr!.on('data', (d: Buffer) => {
              err += String(d);
            });
            await new Promise<void>((resolve, reject) => {
              const t = setInterval(() => {
                if (err.includes('listening on')) {
                  clearInterval(t);
                  resolve();
                }
              }, 20);
              dump.on('exit', (code) => {
                clearInterval(t);
                reject(new Error(`tcpdump exited with ${code}: ${err}`));
              });
            });
            await new Promise((r) => setTimeout(r, 200));
            const json = await conndxDns(srv.port, count, concurrency);
            expect(json.outcomes).toEqual({ ok: count });
            await new Promise((r) => setTimeout(r, 200));
            dump.kill('SIGINT');
            await once(dump, 'exit');
            const wire = execFileSync('tshark', ['-r', file, '-Y', 'dns.flags.response == 1', '-T', 'fields', '-e', 'dns.time'], {
              encoding: 'utf8',
              stdio: ['ignore', 'pipe', 'ignore'],
            })
              .trim()
              .split('\n')
              .filter(Boolean)
              .map((x) => Number(x) * 1000);
            // The capture holds (nearly) every exchange: the truth covers the run.
            expect(wire.length, 'exchanges in the capture').toBeGreaterThanOrEqual(count * 0.9);
            const truth = { p50: nearestRank(wire, 50), p99: nearestRank(wire, 99) };
            const { p50, p99 } = json.latencyMs;
            // 2 ms or 5% (the DNS issue's bar), plus how late conndx's loop ran in this run.
            const lag = lagOf(json);
            const bar = (t: number) => Math.max(2, t * 0.05) + lag;
            expect(
              Math.abs(p50 - truth.p50) <= bar(truth.p50),
              `p50 ${p50} vs ${truth.p50} ms on the wire (bar ${bar(truth.p50).toFixed(1)} ms, of which ${lag.toFixed(1)} ms loop lag of this run)`,
            ).toBe(true);
            expect(
              Math.abs(p99 - truth.p99) <= bar(truth.p99),
              `p99 ${p99} vs ${truth.p99} ms on the wire (bar ${bar(truth.p99).toFixed(1)} ms, of which ${lag.toFixed(1)} ms loop lag of this run)`,
            ).toBe(true);
            // the mix is what the server was told, and conndx never reports less than the wire shows
            expect(truth.p50).toBeGreaterThanOrEqual(FAST - 0.5);
            expect(truth.p99).toBeGreaterThanOrEqual(SLOW - 0.5);
            expect(p50).toBeGreaterThanOrEqual(truth.p50 - 0.05);
          } finally {
            if (dump.exitCode === null) {
              dump.kill('SIGINT');
              await once(dump, 'exit');
            }
            await srv.stop();
          }
        });
      },
      120_000,
    );
  },
);
