import { spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { BIN, lab } from '../helpers/lab.js';
import type { LabEndpoint } from '../../src/lab/types.js';

// `check` and `serve` under a real `ulimit -n 100` in a child shell: the run
// may lack file descriptors (loading its own modules, opening sockets), and
// must still say so as a fault of this machine, never as an internal error
// naming a file.

const LIMIT = 100;

function sh(script: string, args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn('sh', ['-c', script, 'sh', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

describe(`check and serve under ulimit -n ${LIMIT}`, () => {
  const eps: (LabEndpoint & { addr: string })[] = [];
  let dir = '';
  let config = '';
  const checks = 50;
  beforeAll(async () => {
    const tcp = await lab('tcp-open');
    const tls = await lab('tls-ok');
    eps.push(tcp, tls);
    dir = await mkdtemp(join(tmpdir(), 'conndx-ulimit-'));
    await writeFile(join(dir, 'ca.pem'), String(tls.info!.ca));
    const lines = ['checks:'];
    // 40 TCP checks of 20 connects in flight each, 10 TLS checks: far more sockets than 100 descriptors.
    for (let i = 0; i < 40; i++) lines.push(`  - name: t${i}`, `    tcp: ${tcp.addr}`, '    count: 20', '    concurrency: 20');
    for (let i = 0; i < checks - 40; i++)
      lines.push(
        `  - name: s${i}`,
        `    tls: ${tls.addr}`,
        '    sni: lab.conndx.test',
        '    ca: ca.pem',
        '    count: 10',
        '    concurrency: 10',
      );
    config = join(dir, 'checks.yaml');
    await writeFile(config, lines.join('\n') + '\n');
  });
  afterAll(async () => {
    await Promise.all(eps.map((e) => e.close()));
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  test('check always prints one Nagios status line; a lack of descriptors is UNKNOWN (exit 3), never an internal error', async () => {
    const runs = await Promise.all(
      [0, 1, 2].map(() => sh(`ulimit -n ${LIMIT} && exec "${process.execPath}" "$1" check --config "$2"`, [BIN, config])),
    );
    let sawLocalFault = false;
    for (const r of runs) {
      const out = r.stdout.split('\n').filter(Boolean);
      // The first line is the status line Nagios reads, and there is exactly one.
      expect(out[0]).toMatch(/^CONNDX (OK|WARNING|CRITICAL|UNKNOWN) - /);
      expect(out.filter((l) => l.startsWith('CONNDX ')).length).toBe(1);
      expect(r.stdout + r.stderr).not.toMatch(/internal error|node_modules|MaxListeners/);
      if (/EMFILE/.test(out[0]!)) {
        sawLocalFault = true;
        expect(out[0]).toMatch(/^CONNDX UNKNOWN - /);
        expect(out[0]).toContain(`ulimit -n ${LIMIT}`);
        expect(r.code).toBe(3);
      } else {
        expect(r.code).toBe({ OK: 0, WARNING: 1, CRITICAL: 2, UNKNOWN: 3 }[/^CONNDX (\w+)/.exec(out[0]!)![1]!]);
      }
    }
    // 1,000 sockets wanted at once against 100 descriptors: at least one run lacked some.
    expect(sawLocalFault).toBe(true);
  }, 90_000);

  test('check --json under the same limit is one JSON object with status UNKNOWN', async () => {
    const r = await sh(`ulimit -n ${LIMIT} && exec "${process.execPath}" "$1" check --config "$2" --json`, [BIN, config]);
    const j = JSON.parse(r.stdout) as { status: string; exitCode: number; summary: string };
    expect(j.status).toBe('UNKNOWN');
    expect(j.exitCode).toBe(3);
    expect(r.code).toBe(3);
    expect(j.summary).toMatch(/EMFILE/);
    expect(r.stderr).not.toMatch(/internal error|node_modules/);
  }, 60_000);

  test('serve /probe under the same limit answers each request in one line or with the probe reporting a local error', async () => {
    const child = spawn(
      'sh',
      ['-c', `ulimit -n ${LIMIT} && exec "${process.execPath}" "$1" serve --config "$2" --listen 127.0.0.1:0`, 'sh', BIN, config],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let log = '';
    child.stderr.on('data', (d) => (log += d));
    try {
      const deadline = Date.now() + 20_000;
      let url = '';
      while (!url) {
        url = /listening on (http:\/\/\S+)/.exec(log)?.[1] ?? '';
        if (Date.now() > deadline || child.exitCode !== null) throw new Error(`serve did not start: ${log}`);
        await new Promise((r) => setTimeout(r, 50));
      }
      const tcp = eps[0]!.addr;
      // Twelve probes of 20 connects in flight at once: 240 sockets against 100 descriptors.
      const answers = await Promise.all(
        Array.from({ length: 12 }, async (_, i) => {
          try {
            // A bound on each request: a connection the server could not accept (EMFILE) waits in the
            // kernel's backlog, and the client would wait for it as long as its own default (minutes).
            const res = await fetch(`${url}/probe?module=t${i}&target=${tcp}`, { signal: AbortSignal.timeout(25_000) });
            return { status: res.status, body: await res.text() };
          } catch (e) {
            // The server could not even accept this connection (EMFILE on accept): no answer, no crash.
            return { status: 0, body: String(e) };
          }
        }),
      );
      let local = 0;
      for (const a of answers) {
        expect(a.body).not.toMatch(/internal error|node_modules/);
        if (a.status === 200) {
          expect(a.body).toMatch(/^probe_success /m);
          if (/^probe_success 0/m.test(a.body)) local++;
        } else if (a.status === 500) {
          expect(a.body.trimEnd().split('\n')).toHaveLength(1);
          expect(a.body).toMatch(/EMFILE/);
          local++;
        } else {
          expect(a.status).toBe(0);
          local++;
        }
      }
      expect(local).toBeGreaterThan(0);
      // Some requests were answered at all: a serve that hangs on every one fails here.
      expect(answers.filter((a) => a.status !== 0).length, JSON.stringify(answers.map((a) => a.status))).toBeGreaterThan(0);
      // And it is still serving, once the probes' own sockets are closed (on a loaded machine
      // they may still hold the 100 descriptors a moment after their answers): a few tries.
      let healthy = 0;
      for (let i = 0; i < 40 && healthy !== 200; i++) {
        healthy = await fetch(`${url}/-/healthy`, { signal: AbortSignal.timeout(2_000) }).then(
          (r) => r.status,
          () => 0,
        );
        if (healthy !== 200) await new Promise((r) => setTimeout(r, 250));
      }
      expect(healthy).toBe(200);
    } finally {
      child.kill('SIGTERM');
      // serve drains in-flight probes on SIGTERM; a drain that never ends is killed, and fails below.
      const killer = setTimeout(() => child.kill('SIGKILL'), 20_000);
      await new Promise((r) => child.once('close', r));
      clearTimeout(killer);
      expect(child.signalCode, `serve did not end on SIGTERM within 20 s: ${log.slice(-500)}`).not.toBe('SIGKILL');
    }
    expect(log).not.toMatch(/internal error|node_modules/);
  }, 120_000);
});
