import dgram from 'node:dgram';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { runCli, runCliJson } from '../helpers/cli.js';
import { lab } from '../helpers/lab.js';

// `conndx dns --workers N` over UDP and TCP: each thread has its own sockets;
// the result is the one a single thread gives (counts, outcomes, per-server
// counters), with nothing about timing asserted.

const sum = (o: Record<string, number>) => Object.values(o).reduce((a, b) => a + b, 0);

/** Answers every query twice: first under the query's id with every bit flipped (a reply to no query), then correctly. */
async function wrongIdServer(): Promise<{ addr: string; close(): void }> {
  const sock = dgram.createSocket('udp4');
  sock.on('message', (q, from) => {
    if (q.length < 12) return;
    // The question as asked, QR set, one A record pointing at the question's name.
    const reply = Buffer.concat([q, Buffer.from([0xc0, 0x0c, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 192, 0, 2, 53])]);
    reply[2] = 0x84 | (q[2]! & 0x01);
    reply[3] = 0;
    reply.writeUInt16BE(1, 6); // ANCOUNT
    reply.writeUInt16BE(0, 8);
    reply.writeUInt16BE(0, 10); // the query's OPT record is not echoed: no EDNS in this reply
    const end = 12 + questionLength(q);
    const answer = Buffer.concat([reply.subarray(0, end), reply.subarray(q.length)]);
    const wrong = Buffer.from(answer);
    wrong.writeUInt16BE(q.readUInt16BE(0) ^ 0xffff, 0);
    sock.send(wrong, from.port, from.address);
    sock.send(answer, from.port, from.address);
  });
  await new Promise<void>((r) => sock.bind(0, '127.0.0.1', () => r()));
  return { addr: `127.0.0.1:${sock.address().port}`, close: () => sock.close() };
}

function questionLength(q: Buffer): number {
  let i = 12;
  while (q[i]! !== 0) i += q[i]! + 1;
  return i + 1 + 4 - 12;
}

describe('conndx dns --workers', () => {
  test('UDP on 2 threads: every attempt once, the same outcomes and facts as one thread', async () => {
    const ep = await lab('dns-ok');
    try {
      const args = ['dns', 'lab.test', '--server', ep.addr, '-c', '400', '--concurrency', '40', '--timeout', '5s'];
      const one = await runCliJson([...args, '--workers', '1']);
      const two = await runCliJson([...args, '--workers', '2']);
      expect(two.json.timing.workers).toBe(2);
      expect(one.json.timing.workers).toBeUndefined();
      for (const r of [one.json, two.json]) {
        expect(r.attempts).toBe(400);
        expect(sum(r.outcomes)).toBe(r.attempts);
        expect(r.byServer[ep.addr].attempts).toBe(400);
        expect(r.query.transport).toBe('udp');
      }
      expect(two.json.outcomes).toEqual(one.json.outcomes);
      expect(two.json.rcodes).toEqual(one.json.rcodes);
      expect(two.json.answers).toEqual(one.json.answers);
      expect(two.json.byServer[ep.addr].outcomes).toEqual(one.json.byServer[ep.addr].outcomes);
      const nd = await runCli([...args, '--workers', '2', '--ndjson']);
      const lines = nd.stdout
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l) as { seq: number });
      expect(lines).toHaveLength(400);
      expect(new Set(lines.map((l) => l.seq)).size).toBe(400);
    } finally {
      await ep.close();
    }
  });

  test('--shard with --workers: the threads ask only the servers of the shard', async () => {
    const a = await lab('dns-ok');
    const b = await lab('dns-nxdomain');
    try {
      const args = ['dns', 'lab.test', '--server', a.addr, '--server', b.addr, '-c', '20', '--concurrency', '4', '--timeout', '5s'];
      const first = await runCliJson([...args, '--shard', '1/2', '--workers', '2']);
      const second = await runCliJson([...args, '--shard', '2/2', '--workers', '2']);
      expect(first.json.timing.workers).toBe(2);
      expect(first.json.outcomes).toEqual({ ok: 20 });
      expect(Object.keys(first.json.byServer)).toEqual([a.addr]);
      expect(second.json.outcomes).toEqual({ nxdomain: 20 });
      expect(Object.keys(second.json.byServer)).toEqual([b.addr]);
    } finally {
      await a.close();
      await b.close();
    }
  });

  test('replies under a wrong id are counted per server, summed over the threads', async () => {
    const srv = await wrongIdServer();
    try {
      // One query outstanding per socket, so the flipped id can be no other query's.
      const base = ['dns', 'bench.test', '--server', srv.addr, '-c', '60', '--timeout', '5s', '--no-edns'];
      const one = await runCliJson([...base, '--concurrency', '1', '--workers', '1']);
      const two = await runCliJson([...base, '--concurrency', '2', '--workers', '2']);
      expect(two.json.timing.workers).toBe(2);
      for (const r of [one.json, two.json]) {
        expect(r.outcomes).toEqual({ ok: 60 });
        expect(r.mismatchedReplies).toBe(60);
        expect(r.mismatchedBy).toEqual({ [srv.addr]: { idMismatch: 60, late: 0, questionMismatch: 0 } });
        expect(r.byServer[srv.addr]).toMatchObject({ mismatchedReplies: 60, idMismatch: 60, late: 0, questionMismatch: 0 });
      }
    } finally {
      srv.close();
    }
  });

  test('EDNS facts (NSID, EDE) are counted per server across threads as on one', async () => {
    const any = await lab('dns-anycast');
    const ede = await lab('dns-ede');
    try {
      const args = [
        'dns',
        'lab.test',
        '--server',
        any.addr,
        '--server',
        ede.addr,
        '-c',
        '40',
        '--concurrency',
        '8',
        '--nsid',
        '--timeout',
        '5s',
      ];
      const one = await runCliJson([...args, '--workers', '1']);
      const two = await runCliJson([...args, '--workers', '2']);
      expect(two.json.timing.workers).toBe(2);
      expect(two.json.attempts).toBe(80);
      expect(sum(two.json.outcomes)).toBe(80);
      expect(two.json.outcomes).toEqual(one.json.outcomes);
      expect(two.json.byServer[ede.addr].outcomes).toEqual({ servfail: 40 });
      expect(two.json.ede).toEqual(one.json.ede);
      expect(two.json.ede).toEqual({ '22 No Reachable Authority': 40 });
      expect(sum(two.json.byServer[any.addr].nsid)).toBe(40);
      expect(Object.keys(two.json.byServer[any.addr].nsid).sort()).toEqual(Object.keys(one.json.byServer[any.addr].nsid).sort());
      expect(two.json.cookies ?? null).toEqual(one.json.cookies ?? null);
    } finally {
      await any.close();
      await ede.close();
    }
  });

  test('TCP on 2 threads; DoT/DoH say they run on one', async () => {
    const ep = await lab('dns-ok');
    try {
      const args = ['dns', 'lab.test', '--server', ep.addr, '-c', '30', '--concurrency', '6', '--tcp', '--timeout', '5s'];
      const one = await runCliJson([...args, '--workers', '1']);
      const two = await runCliJson([...args, '--workers', '2']);
      expect(two.json.timing.workers).toBe(2);
      expect(two.json.outcomes).toEqual(one.json.outcomes);
      expect(two.json.outcomes).toEqual({ ok: 30 });
      expect(two.json.query.transport).toBe('tcp');
      // Without --workers a dns run stays on one thread, however many are outstanding.
      const dflt = await runCliJson(['dns', 'lab.test', '--server', ep.addr, '-c', '200', '--concurrency', '100', '--timeout', '5s']);
      expect(dflt.json.timing.workers).toBeUndefined();
      expect(dflt.json.attempts).toBe(200);
    } finally {
      await ep.close();
    }
    const dot = await lab('dns-dot');
    const dir = mkdtempSync(join(tmpdir(), 'conndx-dns-workers-'));
    try {
      const ca = join(dir, 'ca.pem');
      writeFileSync(ca, dot.info!.ca as string);
      const r = await runCli(['dns', 'lab.test', '--server', dot.info!.url as string, '--ca', ca, '-c', '4', '--workers', '2', '--json']);
      expect(r.code).toBe(0);
      expect(r.stderr).toMatch(/--workers: DoT and DoH run on one thread/);
      const res = JSON.parse(r.stdout) as { outcomes: Record<string, number>; timing: { workers?: number } };
      expect(res.outcomes).toEqual({ ok: 4 });
      expect(res.timing.workers).toBeUndefined();
    } finally {
      await dot.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
