// `conndx pcap -` through a real pipe: the bin reads standard input as it is written, prints
// the summary at the end of input or on Ctrl-C (SIGINT), and `--follow` reports the figures so
// far. The last test pipes `tcpdump -w -` on lo into it (needs root and tcpdump).
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createConnection, createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, test } from 'vitest';
import { clientHello, conversation, dnsQuery, dnsResponse, udpDatagram, writePcap } from '../../fixtures/pcap/build.js';
import { allInOne } from '../../fixtures/pcap/scenarios.js';
import { analyzeCapture } from '../../src/capture/index.js';
import { requireTool } from '../helpers/capture-env.js';
import { BIN } from '../helpers/lab.js';

const dir = mkdtempSync(join(tmpdir(), 'conndx-stdin-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

interface Run {
  child: ChildProcess;
  stdout: () => string;
  stderr: () => string;
  done: Promise<number | null>;
}

function conndx(args: string[]): Run {
  const child = spawn(process.execPath, [BIN, ...args], { stdio: ['pipe', 'pipe', 'pipe'], env: { ...process.env, NO_COLOR: '1' } });
  let out = '';
  let err = '';
  child.stdout!.on('data', (d) => (out += d));
  child.stderr!.on('data', (d) => (err += d));
  const done = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
  return { child, stdout: () => out, stderr: () => err, done };
}

const strip = (j: Record<string, unknown>) => {
  const { meta, file, ...rest } = j;
  void meta;
  void file;
  return rest;
};

describe('conndx pcap - (standard input)', () => {
  test('build present', () => {
    expect(existsSync(BIN.replace(/bin\/conndx$/, 'dist/cli/main.js')), 'run `npm run build` first').toBe(true);
  });

  test('a capture written to the pipe in pieces gives the same analysis as the file', async () => {
    const bytes = writePcap(allInOne());
    const file = join(dir, 'all.pcap');
    writeFileSync(file, bytes);
    const r = conndx(['pcap', '-', '--json', '--attempts']);
    // Odd-sized pieces, so records straddle the writes.
    for (let o = 0; o < bytes.length; o += 777) {
      r.child.stdin!.write(bytes.subarray(o, o + 777));
      await new Promise((res) => setImmediate(res));
    }
    r.child.stdin!.end();
    expect(await r.done, r.stderr()).toBe(0);
    const fromPipe = JSON.parse(r.stdout());
    const fromFile = await analyzeCapture(file, { attempts: true });
    if (!fromFile.ok) throw new Error(fromFile.reason);
    expect(fromPipe.file).toBe('-');
    expect(strip(fromPipe)).toEqual(strip(JSON.parse(JSON.stringify(fromFile.result))));
  });

  test('Ctrl-C while the writer still holds the pipe open: the summary of what was read, exit 130; --follow showed progress', async () => {
    const T0 = 1700000000;
    const pkts = [
      { ts: T0, ip: udpDatagram({ src: '10.0.0.1', dst: '10.0.0.53', sport: 3000, dport: 53 }, dnsQuery(1, 'api.test')) },
      { ts: T0 + 0.2, ip: udpDatagram({ src: '10.0.0.53', dst: '10.0.0.1', sport: 53, dport: 3000 }, dnsResponse(1, 'api.test', 0)) },
      ...conversation('10.0.0.1', '10.0.0.9', 40000, 443)
        .syn(T0 + 0.3)
        .synAck(T0 + 0.31)
        .ack(T0 + 0.311)
        .clientData(T0 + 0.312, clientHello('api.test'))
        .rstFromServer(T0 + 0.32).pkts,
    ];
    const bytes = writePcap(pkts);
    const r = conndx(['pcap', '-', '--follow', '--attempts']);
    r.child.stdin!.write(bytes);
    // Wait until a progress line shows every packet read (at most 20 s: the refresh is every 2 s).
    const t0 = Date.now();
    while (!/^7 packets over/m.test(r.stderr()) && Date.now() - t0 < 20_000) await new Promise((res) => setTimeout(res, 100));
    expect(r.stderr()).toMatch(/^7 packets over 0\.3 s; TCP 0 attempts, 0 established \(-\), 1 open; DNS 1 queries, 1 answered/m);
    r.child.kill('SIGINT');
    expect(await r.done).toBe(130);
    expect(r.stdout()).toMatch(/^-: pcap, 7 packets over 0\.320 s/m);
    expect(r.stdout()).toMatch(
      /10\.0\.0\.1:40000\s+10\.0\.0\.9:443\s+api\.test\s+200 ms\s+NOERROR\s+10\.0 ms\s+0\s+reset\s+\d+\/0\s+tls\s+reset/,
    );
    expect(r.stdout()).toContain('  attempts: DNS p99 200 ms; of 1 attempt 100% connected, 0% ok, 100% tls reset.');
    expect(r.stderr()).toContain('reading stopped by an interrupt');
    r.child.stdin!.destroy();
  }, 40_000);

  test('bad input on the pipe: one line, exit 3', async () => {
    const r = conndx(['pcap', '-']);
    r.child.stdin!.end('this is not a capture at all, just some text');
    expect(await r.done).toBe(3);
    expect(r.stderr()).toBe('conndx: standard input is not a capture conndx can read: not a pcap or pcapng file (unknown magic number)\n');
    const f = conndx(['pcap', join(dir, 'x.pcap'), '--follow']);
    f.child.stdin!.end();
    expect(await f.done).toBe(3);
    expect(f.stderr()).toMatch(/^conndx: --follow reads a live capture: use it with - \(standard input\)\n$/);
  });

  const need = requireTool('tcpdump', true);
  test.skipIf(!need.ok)(
    `tcpdump -w - on lo piped into conndx pcap -${need.ok ? '' : ` (skipped: ${need.reason})`}`,
    async () => {
      const server = createServer((s) => s.on('data', () => s.end('pong')));
      const port = await new Promise<number>((res) => server.listen(0, '127.0.0.1', () => res((server.address() as AddressInfo).port)));
      const r = conndx(['pcap', '-', '--json', '--attempts']);
      const dump = spawn('tcpdump', ['-i', 'lo', '--immediate-mode', '-U', '-Z', 'root', '-w', '-', `tcp port ${port}`], {
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      dump.stdout!.pipe(r.child.stdin!);
      try {
        await new Promise<void>((resolve, reject) => {
          dump.stderr!.on('data', (d: Buffer) => {
            if (String(d).includes('listening on')) resolve();
          });
          dump.on('exit', (code) => reject(new Error(`tcpdump exited with ${code}`)));
          setTimeout(() => reject(new Error('tcpdump did not start')), 5000).unref();
        });
        await new Promise((res) => setTimeout(res, 1000));
        await new Promise<void>((resolve, reject) => {
          const c = createConnection({ host: '127.0.0.1', port }, () => c.write('ping'));
          c.on('data', () => {});
          c.on('end', () => c.end());
          c.on('close', () => resolve());
          c.on('error', reject);
        });
        // tcpdump writes each packet as it comes (-U): give the last ones a moment to reach the pipe.
        await new Promise((res) => setTimeout(res, 500));
      } finally {
        dump.kill('SIGINT');
        server.close();
      }
      // tcpdump's exit closes the pipe: conndx sees the end of input and prints.
      expect(await r.done, r.stderr()).toBe(0);
      const j = JSON.parse(r.stdout());
      expect(j.file).toBe('-');
      expect(j.tcp).toMatchObject({ connections: 1, established: 1 });
      expect(j.attempts.rows).toHaveLength(1);
      expect(j.attempts.rows[0]).toMatchObject({ server: `127.0.0.1:${port}`, phase: 'ok', appBytes: { sent: 4, received: 4 } });
    },
    30_000,
  );
});
