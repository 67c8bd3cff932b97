// The TLS handshake split (tlsServerMs + tlsClientMs = the handshake): the server's part agrees
// with the wire (tcpdump: ClientHello → the server's Finished flight) within 10% or 0.3 ms plus
// the run's loop lag, at concurrency 1; and with a busy event loop in this process (blocks of
// BUSY_MS of CPU, one per turn of the loop), the handshake grows by this client's share while
// the server's part keeps agreeing with the wire. Needs root and tcpdump.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { runCli } from '../helpers/cli.js';
import { requireTool, startTcpdump } from '../helpers/capture-env.js';
import { labProcess } from '../helpers/lab.js';
import { tlsWire, wireTimes, withLag } from '../helpers/wire.js';

const need = requireTool('tcpdump', true);
const BUSY_MS = 4;
const COUNT = 20;

let labp: Awaited<ReturnType<typeof labProcess>>;
beforeAll(async () => {
  if (need.ok) labp = await labProcess(['tls-ok']);
}, 30_000);
afterAll(async () => {
  await labp?.stop();
});

type Rec = Record<string, any>;
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

async function run(addr: string, busy: boolean): Promise<{ lines: Rec[]; lagMs: number }> {
  let on = busy;
  const burn = () => {
    if (!on) return;
    const end = performance.now() + BUSY_MS;
    while (performance.now() < end);
    setImmediate(burn);
  };
  if (busy) setImmediate(burn);
  try {
    const { value, lagMs } = await withLag(() =>
      runCli(['tls', addr, '--insecure', '--count', String(COUNT), '--concurrency', '1', '--ndjson']),
    );
    const lines = value.stdout
      .split('\n')
      .filter((l) => l.trim())
      .map((l) => JSON.parse(l) as Rec);
    return { lines, lagMs };
  } finally {
    on = false;
  }
}

test.skipIf(!need.ok)(
  `tlsServerMs agrees with the wire; a busy loop grows the client's part, not the server's${need.ok ? '' : ` (skipped: ${need.reason})`}`,
  async () => {
    const ep = labp.endpoints['tls-ok']!;
    const dir = mkdtempSync(join(tmpdir(), 'conndx-tls-split-'));
    const file = join(dir, 'split.pcap');
    const dump = await startTcpdump(['-i', 'lo', '--immediate-mode', '-U', '-B', '16384', '-Z', 'root', '-w', file, `tcp port ${ep.port}`]);
    let idle: Awaited<ReturnType<typeof run>>, busy: Awaited<ReturnType<typeof run>>;
    try {
      idle = await run(ep.addr, false);
      busy = await run(ep.addr, true);
      await new Promise((r) => setTimeout(r, 500));
    } finally {
      const exited = new Promise((r) => dump.once('exit', r));
      dump.kill('SIGINT');
      await exited;
    }
    const wire = wireTimes(file, new Set([ep.port]));
    rmSync(dir, { recursive: true, force: true });

    const problems: string[] = [];
    for (const [name, r] of [
      ['idle', idle!],
      ['busy', busy!],
    ] as const) {
      expect(r.lines.map((a) => a.outcome)).toEqual(Array(COUNT).fill('ok'));
      for (const a of r.lines) {
        const t = a.timings ?? {};
        expect(t.tlsServerMs + t.tlsClientMs, 'the two parts add up to the handshake').toBeCloseTo(a.ms, 6);
        const w = wire.get(a.detail.localPort);
        const tw = w ? tlsWire(w) : null;
        if (!tw) {
          problems.push(`${name} #${a.seq}: port ${a.detail.localPort} has no handshake on the wire`);
          continue;
        }
        if (Math.abs(t.tlsServerMs - tw.serverMs) > Math.max(0.1 * tw.serverMs, 0.3) + r.lagMs)
          problems.push(
            `${name} #${a.seq}: server part ${t.tlsServerMs.toFixed(3)} ms, wire ${tw.serverMs.toFixed(3)} ms (lag ${r.lagMs.toFixed(3)})`,
          );
      }
    }
    expect(problems, problems.join('\n')).toEqual([]);
    // The busy loop holds up this client's processing of the flight by a block each time: the
    // client's part (and so the handshake) grows by most of a block, more than the server's part.
    const grow = (k: (a: Rec) => number) => median(busy!.lines.map(k)) - median(idle!.lines.map(k));
    const client = grow((a) => a.timings.tlsClientMs);
    const server = grow((a) => a.timings.tlsServerMs);
    const total = grow((a) => a.ms);
    expect(client, `client part grew ${client.toFixed(3)} ms, server part ${server.toFixed(3)} ms`).toBeGreaterThan(0.8 * BUSY_MS);
    expect(total).toBeGreaterThan(0.8 * BUSY_MS);
    expect(server).toBeLessThan(client);
  },
  60_000,
);
