// The handshake time of a STARTTLS run and of a proxied run against the wire: tcpdump on lo at
// concurrency 1, tshark reads the capture back. On the wire the handshake is the client's
// ClientHello packet to its next packet (its second flight: the Finished), on the connection the
// client holds (to the SMTP server, to the proxy). conndx must agree within 10% or 0.3 ms.
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { PROXY_LAB } from '../../src/lab/proxy.js';
import { STARTTLS_LAB } from '../../src/lab/starttls.js';
import type { LabEndpoint } from '../../src/lab/types.js';
import type { Attempt } from '../../src/core/types.js';
import { createTlsProbe, type TlsTarget } from '../../src/probes/tls.js';
import { requireTool } from '../helpers/capture-env.js';

const needDump = requireTool('tcpdump', true);
const needShark = needDump.ok ? requireTool('tshark') : needDump;
const need = needDump.ok ? needShark : needDump;

const N = 20;
const eps: Record<string, LabEndpoint> = {};
let dir = '';
beforeAll(async () => {
  if (!need.ok) return;
  eps.smtp = await STARTTLS_LAB['smtp-starttls']!();
  eps.proxy = await PROXY_LAB['proxy-connect']!();
  dir = mkdtempSync(join(tmpdir(), 'conndx-tls-wire-'));
});
afterAll(async () => {
  await Promise.all(Object.values(eps).map((e) => e.close()));
  if (dir) rmSync(dir, { recursive: true, force: true });
});

interface Pkt {
  t: number;
  stream: number;
  src: number;
  dst: number;
  payload: Buffer;
}

/** Every packet with a payload, as tshark reads it (time relative to the first packet, in ms). */
function packets(file: string): Pkt[] {
  const out = execFileSync(
    'tshark',
    [
      '-r',
      file,
      '-n',
      '-Y',
      'tcp.len > 0',
      '-T',
      'fields',
      '-e',
      'frame.time_relative',
      '-e',
      'tcp.stream',
      '-e',
      'tcp.srcport',
      '-e',
      'tcp.dstport',
      '-e',
      'tcp.payload',
    ],
    { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 },
  );
  return out
    .trim()
    .split('\n')
    .filter(Boolean)
    .map((l) => {
      const [t, stream, src, dst, hex] = l.split('\t');
      return {
        t: Number(t) * 1000,
        stream: Number(stream),
        src: Number(src),
        dst: Number(dst),
        payload: Buffer.from((hex ?? '').replace(/:/g, ''), 'hex'),
      };
    });
}

/** Per connection to `port`, in the order they were opened: ClientHello packet → the client's next packet, in ms. */
function wireHandshakes(pkts: Pkt[], port: number): number[] {
  const byStream = new Map<number, Pkt[]>();
  for (const p of pkts) if (p.dst === port) byStream.set(p.stream, [...(byStream.get(p.stream) ?? []), p]);
  return [...byStream.entries()]
    .sort((a, b) => a[0] - b[0])
    .map(([, ps]) => {
      const i = ps.findIndex((p) => p.payload[0] === 0x16 && p.payload[5] === 0x01);
      const hello = ps[i];
      const next = ps[i + 1];
      return hello && next ? next.t - hello.t : NaN;
    });
}

async function withCapture(ports: number[], run: () => Promise<void>): Promise<string> {
  const file = join(dir, `run-${ports.join('-')}.pcap`);
  const dump = spawn(
    'tcpdump',
    ['-i', 'lo', '--immediate-mode', '-U', '-B', '16384', '-Z', 'root', '-w', file, ports.map((p) => `tcp port ${p}`).join(' or ')],
    {
      stdio: ['ignore', 'ignore', 'pipe'],
    },
  );
  try {
    await new Promise<void>((resolve, reject) => {
      dump.stderr!.on('data', (d: Buffer) => {
        if (String(d).includes('listening on')) resolve();
      });
      dump.on('exit', (code) => reject(new Error(`tcpdump exited with ${code}`)));
      setTimeout(() => reject(new Error('tcpdump did not start')), 5000).unref();
    });
    // "listening on" comes a moment before the capture ring sees packets.
    await new Promise((r) => setTimeout(r, 1000));
    await run();
    // Let the last packets reach the file (-U writes each as it comes).
    await new Promise((r) => setTimeout(r, 500));
  } finally {
    const exited = new Promise((r) => dump.once('exit', r));
    dump.kill('SIGINT');
    await exited;
  }
  return file;
}

async function attempts(t: TlsTarget, o: Parameters<typeof createTlsProbe>[0]): Promise<Attempt[]> {
  const probe = createTlsProbe(o);
  const out: Attempt[] = [];
  // Concurrency 1: one attempt after the other, so connection i on the wire is attempt i.
  for (let i = 0; i < N; i++) out.push(await probe(t, new AbortController().signal));
  return out;
}

const median = (xs: number[]) => {
  const v = [...xs].sort((x, y) => x - y);
  return v.length % 2 ? v[(v.length - 1) / 2]! : (v[v.length / 2 - 1]! + v[v.length / 2]!) / 2;
};
const within = (a: number, b: number) => Math.abs(a - b) <= Math.max(0.1 * b, 0.3);

/**
 * conndx's clock starts once tls.connect has written the ClientHello and stops at 'secureConnect',
 * just before our Finished is written: so each attempt is at most the wire's time (plus the
 * tolerance), and the wire is longer only where this process was kept from writing the Finished at
 * once (a busy machine delays the write, never the clock). The run's median must agree with the
 * wire's within 10% or 0.3 ms, and no attempt may be longer than the wire's by more than that.
 */
function agree(label: string, probe: Attempt[], wire: number[]) {
  expect(wire).toHaveLength(probe.length);
  const pairs = probe.map((a, i) => ({ ms: a.ms!, wire: wire[i]! })).filter((p) => Number.isFinite(p.wire));
  // tcpdump may miss a packet on a loaded machine; 90% of the handshakes seen whole is enough.
  expect(pairs.length, `${label}: handshakes seen whole in the capture`).toBeGreaterThanOrEqual(Math.ceil(0.9 * probe.length));
  const p50 = median(pairs.map((p) => p.ms));
  const w50 = median(pairs.map((p) => p.wire));
  const over = pairs.filter((p) => p.ms > p.wire + Math.max(0.1 * p.wire, 0.3));
  const agreeing = pairs.filter((p) => within(p.ms, p.wire)).length;
  console.log(
    `${label}: ${pairs.length} handshakes on the wire, p50 conndx ${p50.toFixed(3)} ms, wire ${w50.toFixed(3)} ms; ` +
      `${agreeing}/${pairs.length} attempts within 10% or 0.3 ms; each (conndx/wire): ${pairs.map((p) => `${p.ms.toFixed(3)}/${p.wire.toFixed(3)}`).join(' ')}`,
  );
  expect(within(p50, w50), `${label}: p50 ${p50} ms against the wire's ${w50} ms`).toBe(true);
  expect(over, `${label}: attempts longer than the wire`).toEqual([]);
}

test.skipIf(!need.ok)(
  `handshake time of STARTTLS and proxied runs agrees with the wire${need.ok ? '' : ` (skipped: ${need.ok ? '' : need.reason})`}`,
  async () => {
    const ca = eps.smtp!.info!.ca as string;
    const [tHost, tPort] = String(eps.proxy!.info!.proxyTarget).split(':');
    let smtp: Attempt[] = [];
    let proxied: Attempt[] = [];
    const file = await withCapture([eps.smtp!.port, eps.proxy!.port], async () => {
      smtp = await attempts(
        { key: 'smtp', host: '127.0.0.1', port: eps.smtp!.port, serverName: 'lab.conndx.test' },
        { timeoutMs: 3000, ca, starttls: 'smtp' },
      );
      proxied = await attempts(
        {
          key: 'proxied',
          host: tHost!,
          port: Number(tPort),
          serverName: 'lab.conndx.test',
          proxy: { url: `http://127.0.0.1:${eps.proxy!.port}`, host: '127.0.0.1', port: eps.proxy!.port },
        },
        { timeoutMs: 3000, ca },
      );
    });
    expect(smtp.map((a) => a.outcome)).toEqual(Array(N).fill('ok'));
    expect(proxied.map((a) => a.outcome)).toEqual(Array(N).fill('ok'));
    const pkts = packets(file);
    agree('starttls smtp', smtp, wireHandshakes(pkts, eps.smtp!.port));
    agree('proxied', proxied, wireHandshakes(pkts, eps.proxy!.port));
    // The phases before the handshake are not in it: each STARTTLS attempt's upgrade took its own time.
    for (const a of smtp) expect(a.timings?.starttlsMs).toBeGreaterThan(0);
    for (const a of proxied) expect(a.timings?.tunnelMs).toBeGreaterThan(0);
  },
  60_000,
);
