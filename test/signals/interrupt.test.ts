import { spawn } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, test } from 'vitest';
import { BIN } from '../helpers/lab.js';
import { DNS_CASES, hostileDns, hostileTcp, TLS_CASES, type Hostile } from '../hostile/servers.js';

/**
 * SIGINT and SIGTERM on the real executable: the run stops, prints what was
 * done (the JSON covers the attempts made, timing.interrupted is true) and
 * exits 130 (SIGINT) or 143 (SIGTERM), as docs/contract.md says.
 */
function runAndSignal(
  args: string[],
  signal: NodeJS.Signals,
  when: () => Promise<void>,
): Promise<{ code: number | null; stdout: string; stderr: string; ms: number }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [BIN, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '',
      stderr = '';
    child.stdout.on('data', (d: Buffer) => {
      stdout += String(d);
    });
    child.stderr.on('data', (d: Buffer) => {
      stderr += String(d);
    });
    let sentAt = 0;
    let exited = false;
    // The signal goes when the server has seen the run at work (not on a timer: on a busy
    // machine node's start-up alone can outlast one, and the signal would hit a process
    // that has not installed its handlers yet).
    void when().then(() => {
      if (exited) return;
      sentAt = performance.now();
      child.kill(signal);
    });
    const hard = setTimeout(() => child.kill('SIGKILL'), 60_000);
    child.on('exit', (code) => {
      exited = true;
      clearTimeout(hard);
      resolve({ code, stdout, stderr, ms: sentAt ? performance.now() - sentAt : -1 });
    });
  });
}

const open: Hostile[] = [];
afterAll(async () => {
  await Promise.all(open.map((h) => h.close()));
});

describe('interrupts end the run with what was done and an "interrupted" exit code', () => {
  test.each([
    ['SIGINT', 130],
    ['SIGTERM', 143],
  ] as const)(
    'dns probe, %s: exit %i, JSON of the attempts made',
    async (sig, want) => {
      const h = await hostileDns(DNS_CASES['never-answers']!);
      open.push(h);
      // 1000 attempts of 300 ms each would take 5 minutes; the signal comes once the third query arrived.
      const r = await runAndSignal(
        ['dns', 'lab.test', '--server', `127.0.0.1:${h.port}`, '-c', '1000', '--timeout', '300ms', '--json'],
        sig,
        () => h.contacted(3),
      );
      expect(r.code, r.stderr).toBe(want);
      const json = JSON.parse(r.stdout) as { attempts: number; outcomes: Record<string, number>; timing: { interrupted?: boolean } };
      expect(json.attempts).toBeGreaterThan(0);
      expect(json.attempts).toBeLessThan(1000);
      expect(json.timing.interrupted).toBe(true);
      // the attempt in flight finishes (at most its 300 ms timeout), then the process exits: far
      // sooner than the 997 attempts left would take (300 s), even on a busy machine
      expect(r.ms).toBeGreaterThan(0);
      expect(r.ms).toBeLessThan(20_000);
    },
    40_000,
  );

  test('tls probe against a server that never answers, SIGINT: exit 130', async () => {
    const h = await hostileTcp(TLS_CASES.silent!);
    open.push(h);
    const r = await runAndSignal(['tls', `127.0.0.1:${h.port}`, '-c', '1000', '--timeout', '500ms', '--json'], 'SIGINT', () =>
      h.contacted(2),
    );
    expect(r.code, r.stderr).toBe(130);
    const json = JSON.parse(r.stdout) as { attempts: number; outcomes: Record<string, number> };
    expect(json.attempts).toBeGreaterThan(0);
    expect(Object.keys(json.outcomes)).toContain('timeout');
  }, 40_000);
});

describe('diagnose and check stop on a signal too, with what they found', () => {
  test('diagnose against a silent TLS server, SIGINT: exit 130, a verdict on what ran', async () => {
    const h = await hostileTcp(TLS_CASES.silent!);
    open.push(h);
    // 200 handshakes of 2 s would take minutes; the signal comes once the first one reached the server.
    const r = await runAndSignal(['diagnose', `https://127.0.0.1:${h.port}/`, '-c', '200', '--timeout', '2s', '--json'], 'SIGINT', () =>
      h.contacted(1),
    );
    expect(r.code, r.stderr).toBe(130);
    const json = JSON.parse(r.stdout) as { verdict: { status: string; phase: string }; tls: { attempts: number } | null };
    expect(json.verdict.status).not.toBe('ok');
    expect(r.ms).toBeGreaterThan(0);
    expect(r.ms).toBeLessThan(20_000);
  }, 40_000);

  test('check, SIGTERM: exit 143 after one status line', async () => {
    const h = await hostileTcp(TLS_CASES.silent!);
    open.push(h);
    const { mkdtempSync, writeFileSync } = await import('node:fs');
    const { join } = await import('node:path');
    const { tmpdir } = await import('node:os');
    const dir = mkdtempSync(join(tmpdir(), 'conndx-sig-'));
    const file = join(dir, 'c.yaml');
    writeFileSync(file, `checks:\n  - name: silent\n    tls: 127.0.0.1:${h.port}\n    count: 200\n    timeout: 2s\n`);
    const r = await runAndSignal(['check', '--config', file], 'SIGTERM', () => h.contacted(1));
    expect(r.code, r.stderr).toBe(143);
    expect(r.stdout.trim().split('\n')[0]).toMatch(/^CONNDX (OK|WARNING|CRITICAL|UNKNOWN)\b/);
    expect(r.ms).toBeGreaterThan(0);
    expect(r.ms).toBeLessThan(20_000);
  }, 40_000);
});

/**
 * A classic pcap of `n` UDP datagrams of 64,000 bytes each (about 65 KB a record), one flow:
 * big to read, cheap to summarise, so what is measured is the interrupt of the read.
 */
function writeBigUdpCapture(path: string, n: number): void {
  const fd = openSync(path, 'w');
  const head = Buffer.alloc(24);
  head.writeUInt32LE(0xa1b2c3d4, 0);
  head.writeUInt16LE(2, 4);
  head.writeUInt16LE(4, 6);
  head.writeUInt32LE(262144, 16);
  head.writeUInt32LE(1, 20); // EN10MB
  writeSync(fd, head);
  const payload = 64_000;
  const len = 14 + 20 + 8 + payload;
  const rec = Buffer.alloc(16 + len);
  rec.writeUInt32LE(len, 8);
  rec.writeUInt32LE(len, 12);
  const e = 16;
  rec.writeUInt16BE(0x0800, e + 12);
  const ip = e + 14;
  rec[ip] = 0x45;
  rec.writeUInt16BE(20 + 8 + payload, ip + 2);
  rec[ip + 8] = 64;
  rec[ip + 9] = 17;
  rec.set([10, 0, 0, 1, 10, 0, 0, 2], ip + 12);
  rec.writeUInt16BE(40000, ip + 20);
  rec.writeUInt16BE(9, ip + 22);
  rec.writeUInt16BE(8 + payload, ip + 24);
  for (let i = 0; i < n; i++) {
    rec.writeUInt32LE(1_700_000_000 + Math.floor(i / 1000), 0);
    rec.writeUInt32LE((i % 1000) * 1000, 4);
    writeSync(fd, rec);
  }
  closeSync(fd);
}

/** Bytes the process has read so far (rchar of /proc/PID/io: counts pread too), or -1. */
function bytesRead(pid: number): number {
  try {
    const m = /^rchar: (\d+)$/m.exec(readFileSync(`/proc/${pid}/io`, 'utf8'));
    return m ? Number(m[1]) : -1;
  } catch {
    return -1;
  }
}

describe('pcap and tcp stop on Ctrl-C with what they read or did', () => {
  test('pcap of a 350 MB capture, SIGINT mid-file: exit 130, the summary of what was read, no "cut short"', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'conndx-sig-pcap-'));
    const file = join(dir, 'big-udp.pcap');
    try {
      writeBigUdpCapture(file, 5_400);
      const child = spawn(process.execPath, [BIN, 'pcap', file, '--json'], { stdio: ['ignore', 'pipe', 'pipe'] });
      let stdout = '',
        stderr = '';
      child.stdout.on('data', (d: Buffer) => (stdout += String(d)));
      child.stderr.on('data', (d: Buffer) => (stderr += String(d)));
      const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
      // Signal once the reader is into the file (40 MB read past start-up), not on a timer:
      // a fast or a slow machine both interrupt mid-file.
      const base = await new Promise<number>((r) => setTimeout(() => r(bytesRead(child.pid!)), 0));
      let sent = false;
      const hard = setTimeout(() => child.kill('SIGKILL'), 60_000);
      const poll = setInterval(() => {
        const n = bytesRead(child.pid!);
        if (!sent && n > Math.max(base, 0) + 40e6) {
          sent = true;
          child.kill('SIGINT');
        }
      }, 2);
      const code = await exited;
      clearInterval(poll);
      clearTimeout(hard);
      expect(sent, `the read never got 40 MB in; stderr: ${stderr}`).toBe(true);
      expect(code, stderr).toBe(130);
      const json = JSON.parse(stdout) as { packets: number; warnings: string[] };
      expect(json.packets).toBeGreaterThan(0);
      expect(json.packets).toBeLessThan(5_400);
      const warnings = json.warnings.join('\n');
      expect(warnings).toMatch(/reading stopped by an interrupt after \d+ records \([\d.]+% of the file\)/);
      expect(warnings).not.toMatch(/cut short/);
      expect(stderr).toMatch(/summarising what was read so far/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 90_000);

  test('tcp probe holding each connection, SIGINT: exit 130, JSON of the attempts made', async () => {
    const h = await hostileTcp(TLS_CASES.silent!);
    open.push(h);
    // 1000 attempts holding 1 s each; the signal comes once the second connection arrived.
    const r = await runAndSignal(['tcp', `127.0.0.1:${h.port}`, '-c', '1000', '--hold', '1s', '--json'], 'SIGINT', () => h.contacted(2));
    expect(r.code, r.stderr).toBe(130);
    const json = JSON.parse(r.stdout) as { attempts: number; timing: { interrupted?: boolean } };
    expect(json.attempts).toBeGreaterThan(0);
    expect(json.attempts).toBeLessThan(1000);
    expect(json.timing.interrupted).toBe(true);
    expect(r.ms).toBeGreaterThan(0);
    expect(r.ms).toBeLessThan(20_000);
  }, 40_000);
});
