// Properties every run keeps, whatever the kind and the pacing: real servers on loopback, small
// runs of tcp, tls and dns in closed loop (--count), open loop (--rate), --interval and
// --duration. No latency is below zero, nor below what the server holds each answer for (a DNS
// server that answers after HOLD_MS); every per-attempt value of every timing field lies within
// its summary's min and max; the outcomes add up to the attempts; and the JSON of a run of one
// target has the keys of a run of three, all the way down.
import { createSocket, type Socket as UdpSocket } from 'node:dgram';
import { createServer, type Server } from 'node:net';
import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { main } from '../../src/cli/main.js';
import type { AttemptRecord } from '../../src/core/types.js';
import { startTls } from '../helpers/tls-lab.js';
import type { LabEndpoint } from '../../src/lab/types.js';

const HOLD_MS = 5;

/** A DNS server that answers every A query with 192.0.2.1 after HOLD_MS. */
async function delayedDns(): Promise<{ port: number; close(): Promise<void> }> {
  const s: UdpSocket = createSocket('udp4');
  s.on('message', (q, from) => {
    if (q.length < 12) return;
    let o = 12;
    while (o < q.length && q[o] !== 0) o += q[o]! + 1;
    const question = q.subarray(12, o + 5);
    const header = Buffer.from([q[0]!, q[1]!, 0x81, 0x80, 0, 1, 0, 1, 0, 0, 0, 0]);
    const answer = Buffer.from([0xc0, 12, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 192, 0, 2, 1]);
    // A timer may fire up to a millisecond early (the loop's clock is coarse): hold by the fine clock.
    const due = performance.now() + HOLD_MS;
    const answerNow = () => {
      const left = due - performance.now();
      if (left > 0) return void setTimeout(answerNow, Math.ceil(left));
      s.send(Buffer.concat([header, question, answer]), from.port, from.address);
    };
    setTimeout(answerNow, HOLD_MS);
  });
  await new Promise<void>((r) => s.bind(0, '127.0.0.1', r));
  return { port: s.address().port, close: () => new Promise<void>((r) => s.close(() => r())) };
}

async function tcpServer(): Promise<{ port: number; close(): Promise<void> }> {
  const s: Server = createServer((c) => c.end());
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  return { port: (s.address() as { port: number }).port, close: () => new Promise<void>((r) => s.close(() => r())) };
}

class Sink extends Writable {
  text = '';
  override _write(chunk: Buffer, _e: BufferEncoding, cb: () => void) {
    this.text += chunk.toString();
    cb();
  }
}

/** One run, in-process: its JSON result and every attempt record it made. */
async function run(argv: string[]): Promise<{ json: Record<string, any>; attempts: AttemptRecord[] }> {
  const attempts: AttemptRecord[] = [];
  const stdout = new Sink();
  const stderr = new Sink();
  await main({ argv: [...argv, '--json'], stdout, stderr, env: {}, onAttempt: (r) => void attempts.push(r) });
  let json: Record<string, any>;
  try {
    json = JSON.parse(stdout.text);
  } catch {
    throw new Error(`not JSON: ${stdout.text.slice(0, 300)} ${stderr.text}`);
  }
  return { json, attempts };
}

const dns: Awaited<ReturnType<typeof delayedDns>>[] = [];
const tcp: Awaited<ReturnType<typeof tcpServer>>[] = [];
let tls: LabEndpoint[] = [];
beforeAll(async () => {
  for (let i = 0; i < 3; i++) {
    dns.push(await delayedDns());
    tcp.push(await tcpServer());
  }
  tls = [await startTls('tls-ok'), await startTls('tls-ok'), await startTls('tls-ok')];
});
afterAll(async () => {
  await Promise.all([...dns, ...tcp, ...tls].map((s) => s.close()));
});

const targets = (kind: string, n: number): string[] => {
  if (kind === 'dns') return ['hold.test', ...dns.slice(0, n).flatMap((d) => ['--server', `127.0.0.1:${d.port}`])];
  const list = kind === 'tcp' ? tcp : tls;
  return [...list.slice(0, n).map((s) => `127.0.0.1:${s.port}`), ...(kind === 'tls' ? ['--insecure'] : [])];
};
const MODES: [string, string[]][] = [
  ['closed loop', ['--count', '8', '--concurrency', '2']],
  ['open loop --rate', ['--rate', '40', '--count', '10', '--concurrency', '8']],
  ['--interval', ['--interval', '30ms', '--count', '4']],
  ['--duration', ['--duration', '1200ms']],
];

/** Every stats block of a result level: {field: {min, max, …}}. */
function statsFields(level: Record<string, any>): Record<string, { min: number; max: number }> {
  const out: Record<string, { min: number; max: number }> = {};
  for (const [k, v] of Object.entries(level)) if (v && typeof v === 'object' && 'min' in v && 'max' in v && 'p50' in v) out[k] = v;
  return out;
}

/** Rounded to 3 decimals in the JSON: a value within half a microsecond of the bound is within it. */
const EPS = 0.0005;

describe.each(['tcp', 'tls', 'dns'])('%s', (kind) => {
  test.each(MODES)('%s: latencies >= 0 (dns: >= the hold), within min..max of every field, outcomes add up', async (_mode, args) => {
    const { json, attempts } = await run([kind, ...targets(kind, 1), ...args, '--timeout', '2s']);
    expect(attempts.length).toBeGreaterThan(0);
    expect(json.attempts).toBe(attempts.length);
    const sum = Object.values(json.outcomes as Record<string, number>).reduce((a, b) => a + b, 0);
    expect(sum, 'sum(outcomes) == attempts').toBe(json.attempts);
    expect(json.outcomes.ok, 'some attempts ok').toBeGreaterThan(0);
    const bad: string[] = [];
    const fields = statsFields(json);
    for (const a of attempts) {
      const values: Record<string, number | null | undefined> = { ...a.timings };
      if (a.outcome === 'ok') values.latencyMs = a.latencyMs;
      if (a.outcome === 'ok' && 'serviceMs' in fields) values.serviceMs = a.ms;
      for (const [k, v] of Object.entries(values)) {
        if (typeof v !== 'number') continue;
        if (v < 0) bad.push(`#${a.seq} ${k} ${v} < 0`);
        const f = fields[k];
        if (!f) bad.push(`#${a.seq} ${k} has no summary`);
        else if (v < f.min - EPS || v > f.max + EPS) bad.push(`#${a.seq} ${k} ${v} outside ${f.min}..${f.max}`);
      }
      if (kind === 'dns' && a.outcome === 'ok') {
        if (a.ms! < HOLD_MS) bad.push(`#${a.seq} ms ${a.ms} below the server's hold of ${HOLD_MS} ms`);
        if (a.latencyMs! < HOLD_MS) bad.push(`#${a.seq} latencyMs ${a.latencyMs} below the server's hold of ${HOLD_MS} ms`);
      }
    }
    if (kind === 'dns') expect(json.latencyMs.min, 'summary min below the hold').toBeGreaterThanOrEqual(HOLD_MS);
    expect(bad, bad.join('\n')).toEqual([]);
  });
});

/** Every key path of a JSON value; the keys of a by-target (or by-server) map and of count maps read as `*`. */
function keyPaths(v: unknown, path = '', out = new Set<string>()): Set<string> {
  if (Array.isArray(v)) {
    for (const x of v) keyPaths(x, `${path}[]`, out);
    return out;
  }
  if (!v || typeof v !== 'object') return out;
  const anyKey = /(^|\.)(byTarget|byServer)$/.test(path);
  for (const [k, x] of Object.entries(v as Record<string, unknown>)) {
    const p = `${path}.${anyKey ? '*' : k}`;
    out.add(p);
    keyPaths(x, p, out);
  }
  return out;
}

describe('one target or three: the same keys, recursively', () => {
  test.each(['tcp', 'tls', 'dns'])('%s', async (kind) => {
    const one = await run([kind, ...targets(kind, 1), '--count', '3']);
    const three = await run([kind, ...targets(kind, 3), '--count', '9']);
    // meta names the command; series is there when a run spans 2 s or more (the contract), whatever its targets;
    // timing.loopLagMs is null when its timer never fired (a short run): the run's length again.
    const skip = (p: string) => p.startsWith('.meta') || p.startsWith('.series') || p.startsWith('.timing.loopLagMs.');
    const a = [...keyPaths(one.json)].filter((p) => !skip(p)).sort();
    const b = [...keyPaths(three.json)].filter((p) => !skip(p)).sort();
    expect({ onlyInOne: a.filter((p) => !b.includes(p)), onlyInThree: b.filter((p) => !a.includes(p)) }).toEqual({
      onlyInOne: [],
      onlyInThree: [],
    });
  });
});
