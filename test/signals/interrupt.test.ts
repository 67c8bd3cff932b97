import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, test } from 'vitest';
import { BIN } from '../helpers/lab.js';
// @ts-expect-error: a bench script in plain JavaScript
import { writeSynFlood } from '../../bench/capture/syn-flood.mjs';
import { DNS_CASES, hostileDns, hostileTcp, TLS_CASES, type Hostile } from '../hostile/servers.js';

/**
 * SIGINT and SIGTERM on the real executable: the run stops, prints what was
 * done (the JSON covers the attempts made, timing.interrupted is true) and
 * exits 130 (SIGINT) or 143 (SIGTERM), as docs/contract.md says.
 */
function runAndSignal(
  args: string[],
  signal: NodeJS.Signals,
  afterMs: number,
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
    const t = setTimeout(() => {
      sentAt = performance.now();
      child.kill(signal);
    }, afterMs);
    const hard = setTimeout(() => child.kill('SIGKILL'), 30_000);
    child.on('exit', (code) => {
      clearTimeout(t);
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
      // 1000 attempts of 300 ms each would take 5 minutes; the signal comes after 2.5 s (node start-up included).
      const r = await runAndSignal(
        ['dns', 'lab.test', '--server', `127.0.0.1:${h.port}`, '-c', '1000', '--timeout', '300ms', '--json'],
        sig,
        2500,
      );
      expect(r.code, r.stderr).toBe(want);
      const json = JSON.parse(r.stdout) as { attempts: number; outcomes: Record<string, number>; timing: { interrupted?: boolean } };
      expect(json.attempts).toBeGreaterThan(0);
      expect(json.attempts).toBeLessThan(1000);
      expect(json.timing.interrupted).toBe(true);
      // the attempt in flight finishes (at most its 300 ms timeout), then the process exits
      expect(r.ms).toBeLessThan(5000);
    },
    40_000,
  );

  test('tls probe against a server that never answers, SIGINT: exit 130', async () => {
    const h = await hostileTcp(TLS_CASES.silent!);
    open.push(h);
    const r = await runAndSignal(['tls', `127.0.0.1:${h.port}`, '-c', '1000', '--timeout', '500ms', '--json'], 'SIGINT', 2500);
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
    // 200 handshakes of 2 s would take minutes; the signal comes after 2.5 s.
    const r = await runAndSignal(['diagnose', `https://127.0.0.1:${h.port}/`, '-c', '200', '--timeout', '2s', '--json'], 'SIGINT', 2500);
    expect(r.code, r.stderr).toBe(130);
    const json = JSON.parse(r.stdout) as { verdict: { status: string; phase: string }; tls: { attempts: number } | null };
    expect(json.verdict.status).not.toBe('ok');
    expect(r.ms).toBeLessThan(5000);
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
    const r = await runAndSignal(['check', '--config', file], 'SIGTERM', 2500);
    expect(r.code, r.stderr).toBe(143);
    expect(r.stdout.trim().split('\n')[0]).toMatch(/^CONNDX (OK|WARNING|CRITICAL|UNKNOWN)\b/);
    expect(r.ms).toBeLessThan(5000);
  }, 40_000);
});

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
    const file = join(dir, 'syn5m.pcap');
    try {
      (writeSynFlood as (p: string, n: number) => void)(file, 5_000_000);
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
      expect(json.packets).toBeLessThan(5_000_000);
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
    // 1000 attempts holding 1 s each; the signal comes after 2.5 s.
    const r = await runAndSignal(['tcp', `127.0.0.1:${h.port}`, '-c', '1000', '--hold', '1s', '--json'], 'SIGINT', 2500);
    expect(r.code, r.stderr).toBe(130);
    const json = JSON.parse(r.stdout) as { attempts: number; timing: { interrupted?: boolean } };
    expect(json.attempts).toBeGreaterThan(0);
    expect(json.attempts).toBeLessThan(1000);
    expect(json.timing.interrupted).toBe(true);
    expect(r.ms).toBeLessThan(5000);
  }, 40_000);
});
