import { execFileSync, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tls from 'node:tls';
import { afterAll, describe, expect, test } from 'vitest';
import { GROUP_X25519, GROUP_X25519MLKEM768 } from '../../src/core/tls.js';
import { labPki, LAB_SERVER_NAME } from '../../src/lab/certs.js';
import { defaultOffer, rawHelloOnce, type RawHelloOffer } from '../../src/probes/tls-raw.js';
import { now } from '../../src/core/clock.js';
import { requireTool } from '../helpers/capture-env.js';
import { lab, labProcess } from '../helpers/lab.js';
import { retryOnce } from '../helpers/timing.js';

/**
 * The raw prober's ClientHello on the wire: tcpdump records it on lo and
 * tshark dissects it. Wireshark's TLS dissector is the independent reader:
 * nothing malformed, the hello's fields where conndx put them, and the group
 * the server chose as tshark decodes it from the ServerHello.
 */

const tcpdump = requireTool('tcpdump', true);
const tshark = requireTool('tshark');
const ready = tcpdump.ok && tshark.ok;
const skip = tcpdump.ok ? (tshark.ok ? '' : tshark.reason) : tcpdump.reason;

const never = new AbortController().signal;

async function capture<T>(file: string, port: number, run: () => Promise<T>): Promise<T> {
  const dump = spawn('tcpdump', ['-i', 'lo', '-n', '--immediate-mode', '-s', '0', '-Z', 'root', '-w', file, `tcp port ${port}`], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let err = '';
  dump.stderr!.on('data', (d: Buffer) => {
    err += String(d);
  });
  try {
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
    const out = await run();
    await new Promise((r) => setTimeout(r, 200));
    return out;
  } finally {
    if (dump.exitCode === null) {
      dump.kill('SIGINT');
      await once(dump, 'exit');
    }
  }
}

interface WireHello {
  type: number;
  groups: number[];
  keyShareGroups: number[];
  selectedGroup: number | null;
  sni: string;
  recordLength: number;
}

/** Every handshake message tshark finds, with the fields this test compares, and the count of malformed packets. */
function dissect(file: string, port: number): { hellos: WireHello[]; malformed: number; expertErrors: string[] } {
  const tshark = (args: string[]) =>
    execFileSync('tshark', ['-r', file, '-d', `tcp.port==${port},tls`, ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  const fields = [
    'tls.handshake.type',
    'tls.handshake.extensions_supported_group',
    'tls.handshake.extensions_key_share_group',
    'tls.handshake.extensions_key_share_selected_group',
    'tls.handshake.extensions_server_name',
    'tls.record.length',
  ];
  const rows = tshark([
    '-Y',
    'tls.handshake.type == 1 || tls.handshake.type == 2',
    '-T',
    'fields',
    '-E',
    'separator=|',
    ...fields.flatMap((f) => ['-e', f]),
  ])
    .trim()
    .split('\n')
    .filter(Boolean);
  const nums = (s: string | undefined) => (s ? s.split(',').filter(Boolean).map(Number) : []);
  const hellos = rows.map((line) => {
    const [type, groups, shares, selected, sni, len] = line.split('|');
    return {
      type: nums(type)[0]!,
      groups: nums(groups),
      keyShareGroups: nums(shares),
      selectedGroup: selected ? Number(selected) : null,
      sni: sni ?? '',
      recordLength: nums(len)[0]!,
    };
  });
  const malformed = tshark(['-Y', '_ws.malformed', '-T', 'fields', '-e', 'frame.number']).trim().split('\n').filter(Boolean).length;
  const expertErrors = tshark(['-Y', '_ws.expert.severity == error', '-T', 'fields', '-e', '_ws.expert.message'])
    .trim()
    .split('\n')
    .filter(Boolean);
  return { hellos, malformed, expertErrors };
}

describe.skipIf(!ready)(`the raw ClientHello in tshark (tcpdump on lo)${ready ? '' : ` (skipped: ${skip})`}`, () => {
  const dir = mkdtempSync(join(tmpdir(), 'conndx-raw-wire-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  async function run(name: string, port: number, offer: RawHelloOffer, serverName?: string) {
    const file = join(dir, `${name}.pcap`);
    const r = await capture(file, port, () =>
      rawHelloOnce({ host: '127.0.0.1', port, serverName }, offer, { timeoutMs: 2000, signal: never }),
    );
    return { r, wire: dissect(file, port) };
  }

  test('against a real TLS server (Node OpenSSL): parses, and the chosen group is the one tshark reads in the ServerHello', async () => {
    const pki = await labPki();
    const server = tls.createServer({ cert: pki.valid.cert + pki.intermediate.cert, key: pki.valid.key });
    server.on('tlsClientError', () => {});
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as AddressInfo).port;
    try {
      const { r, wire } = await run('openssl', port, defaultOffer({ alpn: ['h2'] }), LAB_SERVER_NAME);
      expect(r.outcome, r.cause).toBe('ok');
      expect(wire.malformed, 'malformed packets').toBe(0);
      expect(wire.expertErrors).toEqual([]);
      const ch = wire.hellos.find((h) => h.type === 1)!;
      const sh = wire.hellos.find((h) => h.type === 2)!;
      expect(ch, 'tshark found the ClientHello').toBeDefined();
      expect(ch.sni).toBe(LAB_SERVER_NAME);
      expect(ch.recordLength + 5).toBe(r.helloBytes);
      // GREASE first, then the offer, in order
      expect(ch.groups.slice(1)).toEqual(defaultOffer().groups);
      expect(ch.keyShareGroups.slice(1)).toEqual([GROUP_X25519MLKEM768, GROUP_X25519]);
      expect(sh, 'tshark found the ServerHello').toBeDefined();
      expect(sh.keyShareGroups).toEqual([r.serverHello!.groupCode]);
    } finally {
      await new Promise<void>((res) => server.close(() => res()));
    }
  }, 30_000);

  test('against the hybrid lab endpoint: tshark reads X25519MLKEM768 (0x11ec) as the chosen group, in a ClientHello padded to 2200 bytes', async () => {
    const ep = await lab('tls-raw-hybrid');
    try {
      const { r, wire } = await run('hybrid', ep.port, defaultOffer({ helloSize: 2200 }), LAB_SERVER_NAME);
      expect(r.outcome, r.cause).toBe('ok');
      expect(r.helloBytes).toBe(2200);
      expect(wire.malformed, 'malformed packets').toBe(0);
      expect(wire.expertErrors).toEqual([]);
      const ch = wire.hellos.find((h) => h.type === 1)!;
      const sh = wire.hellos.find((h) => h.type === 2)!;
      expect(ch.recordLength + 5).toBe(2200);
      expect(sh.keyShareGroups).toEqual([0x11ec]);
      expect(sh.keyShareGroups).toEqual([r.serverHello!.groupCode]);
    } finally {
      await ep.close();
    }
  }, 30_000);

  test('a HelloRetryRequest: the group it asks for is the one tshark decodes', async () => {
    const ep = await lab('tls-raw-hrr');
    try {
      const { r, wire } = await run('hrr', ep.port, defaultOffer());
      expect(r.outcome, r.cause).toBe('hello-retry');
      expect(wire.malformed, 'malformed packets').toBe(0);
      const sh = wire.hellos.find((h) => h.type === 2)!;
      expect(sh).toBeDefined();
      expect(sh.selectedGroup).toBe(r.serverHello!.groupCode);
      expect(sh.selectedGroup).toBe(0x0017);
    } finally {
      await ep.close();
    }
  }, 30_000);

  test('time to ServerHello agrees with the capture within 10% or 0.3 ms (median, plus the loop lateness), never below it, at concurrency 1', async () => {
    const ep = await labProcess(['tls-ok']);
    try {
      const port = ep.endpoints['tls-ok']!.port;
      await retryOnce('raw time to ServerHello against the wire', async (n) => {
        const file = join(dir, `timing-${n}.pcap`);
        const N = 20;
        const runs = await capture(file, port, async () => {
          const out: { ms: number; lateMs: number }[] = [];
          for (let i = 0; i < N; i++) {
            // How late a 1 ms timer fires during the attempt (and at the first tick after it, which
            // covers the stretch in which the ServerHello arrived): the time this process could not run.
            let late = 0;
            let stop = false;
            let ended: () => void = () => {};
            const last = new Promise<void>((res) => (ended = res));
            const tick = (at: number) =>
              setTimeout(() => {
                late = Math.max(late, now() - at - 1);
                if (stop) ended();
                else tick(now());
              }, 1);
            tick(now());
            const r = await rawHelloOnce({ host: '127.0.0.1', port, serverName: LAB_SERVER_NAME }, defaultOffer(), {
              timeoutMs: 2000,
              signal: never,
            });
            stop = true;
            await last;
            expect(r.outcome, r.cause).toBe('ok');
            out.push({ ms: r.serverHelloMs!, lateMs: late });
          }
          return out;
        });
        const rows = execFileSync(
          'tshark',
          [
            '-r',
            file,
            '-d',
            `tcp.port==${port},tls`,
            '-Y',
            'tls.handshake.type == 1 || tls.handshake.type == 2',
            '-T',
            'fields',
            '-E',
            'separator=|',
            '-e',
            'tcp.stream',
            '-e',
            'frame.time_relative',
            '-e',
            'tls.handshake.type',
          ],
          { encoding: 'utf8' },
        )
          .trim()
          .split('\n')
          .filter(Boolean);
        const byStream = new Map<number, { ch?: number; sh?: number }>();
        for (const line of rows) {
          const [stream, t, types] = line.split('|');
          const e = byStream.get(Number(stream)) ?? {};
          const kinds = (types ?? '').split(',').map(Number);
          if (kinds.includes(1) && e.ch === undefined) e.ch = Number(t) * 1000;
          if (kinds.includes(2) && e.sh === undefined) e.sh = Number(t) * 1000;
          byStream.set(Number(stream), e);
        }
        const wire = [...byStream.entries()]
          .sort((a, b) => a[0] - b[0])
          .map(([, e]) => (e.ch !== undefined && e.sh !== undefined ? e.sh - e.ch : NaN));
        expect(wire.length, 'one TCP stream per attempt in the capture').toBe(N);
        // Per attempt, conndx is never below the wire (the ClientHello leaves inside the write call);
        // above it by the loop's lateness during that attempt, as far as a 1 ms timer sees it. A
        // process descheduled between two ticks is not seen by the timer: so the run's median is
        // what must agree, within 10% or 0.3 ms plus the median lateness, and each attempt over its
        // own bar is printed.
        const over: string[] = [];
        runs.forEach((r, i) => {
          const truth = wire[i]!;
          const bar = Math.max(0.3, truth * 0.1) + r.lateMs;
          if (Math.abs(r.ms - truth) > bar)
            over.push(
              `attempt ${i}: conndx ${r.ms.toFixed(3)} ms, wire ${truth.toFixed(3)} ms (bar ${bar.toFixed(3)} ms, of which ${r.lateMs.toFixed(3)} ms the loop ran late)`,
            );
          expect(r.ms, `attempt ${i}: conndx below the wire`).toBeGreaterThanOrEqual(truth - 0.05);
        });
        const med = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
        const m = med(runs.map((r) => r.ms));
        const w = med(wire);
        const lateMed = med(runs.map((r) => r.lateMs));
        console.log(
          `raw ServerHello: p50 conndx ${m.toFixed(3)} ms, wire ${w.toFixed(3)} ms, loop lateness p50 ${lateMed.toFixed(3)} ms; ${over.length}/${N} attempts over their own bar${over.length ? `: ${over.join('; ')}` : ''}`,
        );
        expect(Math.abs(m - w), `p50 conndx ${m} ms against the wire's ${w} ms (lateness p50 ${lateMed} ms)`).toBeLessThanOrEqual(
          Math.max(0.3, 0.1 * w) + lateMed,
        );
      });
    } finally {
      await ep.stop();
    }
  }, 60_000);
});
