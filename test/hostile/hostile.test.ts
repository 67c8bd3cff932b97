import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { afterAll, describe, expect, test } from 'vitest';
import { BIN } from '../helpers/lab.js';
import { DNS_CASES, DNS_TCP_CASES, hostileDns, hostileTcp, HTTP_CASES, TLS_CASES, type Hostile } from './servers.js';

/**
 * Every probe against a hostile server ends within --timeout (measured by the
 * attempt and by the wall clock of the whole process), stays under 200 MB of
 * RSS (GNU time's maximum resident set) and names an outcome.
 */
const TIME = existsSync('/usr/bin/time') ? '/usr/bin/time' : null;
if (!TIME && process.env.CONNDX_REQUIRE_ROOT_TESTS === '1')
  throw new Error('CONNDX_REQUIRE_ROOT_TESTS=1 but /usr/bin/time (Debian package time) is not installed: no peak RSS');
const TIMEOUT_MS = 1500;

interface Ran {
  wallMs: number;
  rssMB: number | null;
  json: { outcomes: Record<string, number>; elapsedMs: number; timing?: { loopLagMs?: { p99: number; max: number } | null } };
  code: number | null;
}

function conndx(args: string[]): Promise<Ran> {
  const t0 = performance.now();
  const [cmd, argv] = TIME ? [TIME, ['-f', 'RSS_KB=%M', process.execPath, BIN, ...args]] : [process.execPath, [BIN, ...args]];
  return new Promise((resolve, reject) => {
    execFile(cmd, argv, { maxBuffer: 1 << 24, timeout: 60_000 }, (err, stdout, stderr) => {
      const wallMs = performance.now() - t0;
      const m = /RSS_KB=(\d+)/.exec(stderr);
      try {
        resolve({
          wallMs,
          rssMB: m ? Number(m[1]) / 1024 : null,
          json: JSON.parse(stdout),
          code: err ? ((err as { code?: number }).code ?? null) : 0,
        });
      } catch (e) {
        reject(new Error(`no JSON (${(e as Error).message}); stderr: ${stderr.slice(0, 500)}`));
      }
    });
  });
}

const open: Hostile[] = [];
afterAll(async () => {
  await Promise.all(open.map((h) => h.close()));
});

function check(r: Ran, what: string) {
  const outcomes = Object.keys(r.json.outcomes);
  expect(outcomes.length, `${what}: an outcome`).toBeGreaterThan(0);
  for (const o of outcomes) expect(o, `${what}: outcome name`).toMatch(/^[a-z][a-z0-9_:-]*$/);
  // The probe's own run (one attempt) ends within the timeout, plus 250 ms and the run's own
  // loop lag: its largest, since one late timer is all it takes to end one attempt late.
  const lag = r.json.timing?.loopLagMs?.max ?? 0;
  expect(
    r.json.elapsedMs,
    `${what}: run ${r.json.elapsedMs} ms against --timeout ${TIMEOUT_MS} ms (+250 ms + ${lag} ms loop lag)`,
  ).toBeLessThan(TIMEOUT_MS + 250 + lag);
  // The whole process too: node's start-up and exit on a loaded machine are the rest.
  expect(r.wallMs, `${what}: wall ${r.wallMs.toFixed(0)} ms against --timeout ${TIMEOUT_MS} ms`).toBeLessThan(TIMEOUT_MS + 15_000);
  if (r.rssMB !== null) expect(r.rssMB, `${what}: max RSS`).toBeLessThan(200);
}

/** The one outcome each hostile server must get: a wrong name is as bad as a crash. */
const EXPECT: Record<string, string> = {
  'dns compression-loop': 'malformed',
  'dns pointer-ping-pong': 'malformed',
  'dns counts-65535': 'malformed',
  'dns rdlength-lie': 'malformed',
  'dns never-answers': 'timeout',
  // not DNS at all: ignored as a stray datagram, so the query times out
  'dns garbage': 'timeout',
  'tls trickle-1-byte-per-s': 'timeout',
  'tls certificate-1MB': 'protocol-error',
  'tls garbage-after-serverhello': 'protocol-error',
  'tls endless-records': 'protocol-error',
  'tls silent': 'timeout',
  'dns-tcp reply-64KB': 'ok',
  'dns-tcp endless-slow-reply': 'timeout',
  'dns-tcp endless-messages': 'malformed',
  'http endless-status-line': 'malformed',
  // the probe reads the status line and the first byte, not the headers or body after them
  'http endless-headers': 'ok',
  'http endless-body': 'ok',
};

function expectOutcome(outcomes: Record<string, number>, what: string): void {
  expect(Object.keys(outcomes), `${what}: outcomes ${JSON.stringify(outcomes)}`).toEqual([EXPECT[what]]);
}

describe('DNS probe against hostile resolvers', () => {
  test.each(Object.keys(DNS_CASES))('%s', async (name) => {
    const h = await hostileDns(DNS_CASES[name]!);
    open.push(h);
    const r = await conndx(['dns', 'lab.test', '--server', `127.0.0.1:${h.port}`, '-c', '1', '--timeout', `${TIMEOUT_MS}ms`, '--json']);
    check(r, name);
    console.log(
      `hostile dns ${name}: run ${r.json.elapsedMs} ms, wall ${r.wallMs.toFixed(0)} ms (timeout ${TIMEOUT_MS}), rss ${r.rssMB?.toFixed(0)} MB, outcomes ${JSON.stringify(r.json.outcomes)}, exit ${r.code}`,
    );
    expect(r.json.outcomes.ok ?? 0, `${name}: no hostile reply counts as an answer`).toBe(0);
    expectOutcome(r.json.outcomes, `dns ${name}`);
  });
});

describe('TLS probe against hostile servers', () => {
  test.each(Object.keys(TLS_CASES))('%s', async (name) => {
    const h = await hostileTcp(TLS_CASES[name]!);
    open.push(h);
    const r = await conndx(['tls', `127.0.0.1:${h.port}`, '-c', '1', '--timeout', `${TIMEOUT_MS}ms`, '--json']);
    check(r, name);
    console.log(
      `hostile tls ${name}: run ${r.json.elapsedMs} ms, wall ${r.wallMs.toFixed(0)} ms (timeout ${TIMEOUT_MS}), rss ${r.rssMB?.toFixed(0)} MB, outcomes ${JSON.stringify(r.json.outcomes)}, exit ${r.code}`,
    );
    expect(r.json.outcomes.ok ?? 0).toBe(0);
    expectOutcome(r.json.outcomes, `tls ${name}`);
  });
});

describe('DNS over TCP against hostile resolvers', () => {
  test.each(Object.keys(DNS_TCP_CASES))('%s', async (name) => {
    const h = await hostileTcp(DNS_TCP_CASES[name]!);
    open.push(h);
    const r = await conndx([
      'dns',
      'lab.test',
      '--tcp',
      '--server',
      `127.0.0.1:${h.port}`,
      '-c',
      '1',
      '--timeout',
      `${TIMEOUT_MS}ms`,
      '--json',
    ]);
    check(r, name);
    console.log(
      `hostile dns-tcp ${name}: run ${r.json.elapsedMs} ms, wall ${r.wallMs.toFixed(0)} ms (timeout ${TIMEOUT_MS}), rss ${r.rssMB?.toFixed(0)} MB, outcomes ${JSON.stringify(r.json.outcomes)}, exit ${r.code}`,
    );
    // The 64 KB reply is a real (if huge) answer; the others never complete one.
    if (name !== 'reply-64KB') expect(r.json.outcomes.ok ?? 0, `${name}: no endless reply counts as an answer`).toBe(0);
    expectOutcome(r.json.outcomes, `dns-tcp ${name}`);
  });
});

describe('diagnose HTTP phase against hostile servers', () => {
  test.each(Object.keys(HTTP_CASES))('%s', async (name) => {
    const h = await hostileTcp(HTTP_CASES[name]!);
    open.push(h);
    const t0 = performance.now();
    const [cmd, argv] = TIME
      ? [
          TIME,
          [
            '-f',
            'RSS_KB=%M',
            process.execPath,
            BIN,
            'diagnose',
            `http://127.0.0.1:${h.port}/`,
            '-c',
            '1',
            '--timeout',
            `${TIMEOUT_MS}ms`,
            '--json',
          ],
        ]
      : [process.execPath, [BIN, 'diagnose', `http://127.0.0.1:${h.port}/`, '-c', '1', '--timeout', `${TIMEOUT_MS}ms`, '--json']];
    const out = await new Promise<{ stdout: string; stderr: string }>((resolve) =>
      execFile(cmd, argv, { maxBuffer: 1 << 24, timeout: 60_000 }, (_e, stdout, stderr) => resolve({ stdout, stderr })),
    );
    const wallMs = performance.now() - t0;
    const json = JSON.parse(out.stdout) as { http: { outcomes: Record<string, number> } | null; verdict: { phase: string } };
    const m = /RSS_KB=(\d+)/.exec(out.stderr);
    const rss = m ? Number(m[1]) / 1024 : null;
    console.log(
      `hostile http ${name}: wall ${wallMs.toFixed(0)} ms, rss ${rss?.toFixed(0)} MB, http ${JSON.stringify(json.http?.outcomes)}`,
    );
    expect(json.http, `${name}: the request phase ran`).not.toBeNull();
    expectOutcome(json.http!.outcomes, `http ${name}`);
    // A process that reads forever would be killed at 60 s: it ends within a few timeouts (tcp, http).
    expect(wallMs).toBeLessThan(4 * TIMEOUT_MS + 5000);
    if (rss !== null) expect(rss).toBeLessThan(200);
  });
});
