import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { parseChecks } from '../../src/checks/config.js';
import { createLimiter } from '../../src/checks/run.js';
import { startCheckServer } from '../../src/checks/serve.js';
import { main } from '../../src/cli/main.js';
import { LAB_SERVER_NAME } from '../../src/lab/certs.js';
import type { LabEndpoint } from '../../src/lab/types.js';
import { BIN, lab } from '../helpers/lab.js';
import { parsePromText, sampleValue, type Family } from '../helpers/prom-text.js';

const NAMES = ['tcp-open', 'tcp-refuse', 'tls-ok', 'dns-ok', 'dns-nxdomain', 'dns-drop'];
const ep: Record<string, LabEndpoint & { addr: string }> = {};
let dir: string;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'conndx-serve-'));
  for (const n of NAMES) ep[n] = await lab(n);
  writeFileSync(join(dir, 'ca.pem'), String(ep['tls-ok']!.info!.ca));
});
afterAll(async () => {
  await Promise.all(Object.values(ep).map((e) => e.close()));
  rmSync(dir, { recursive: true, force: true });
});

class Sink extends Writable {
  text = '';
  override _write(chunk: Buffer | string, _e: BufferEncoding, cb: () => void) {
    this.text += chunk.toString();
    cb();
  }
}

/** `conndx serve` in this process, on a free loopback port; stop() is SIGTERM, reload() is SIGHUP. */
async function serve(file: string, extra: string[] = []) {
  const stop = new AbortController();
  const reload = new EventTarget();
  const stdout = new Sink();
  const stderr = new Sink();
  const done = main({
    argv: ['serve', '--config', file, '--listen', '127.0.0.1:0', ...extra],
    stdout,
    stderr,
    env: {},
    signal: stop.signal,
    reload,
  });
  const deadline = Date.now() + 10_000;
  let url: string | undefined;
  while (!(url = /listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(stderr.text)?.[1])) {
    if (Date.now() > deadline) throw new Error(`serve did not start: ${stderr.text}`);
    await new Promise((r) => setTimeout(r, 10));
  }
  return {
    url,
    stderr,
    reload: () => reload.dispatchEvent(new Event('reload')),
    async stop() {
      stop.abort();
      return done;
    },
  };
}

async function get(url: string): Promise<{ status: number; type: string; body: string }> {
  const r = await fetch(url);
  return { status: r.status, type: r.headers.get('content-type') ?? '', body: await r.text() };
}

async function scrape(url: string): Promise<Map<string, Family>> {
  const r = await get(`${url}/metrics`);
  expect(r.status).toBe(200);
  expect(r.type).toBe('text/plain; version=0.0.4; charset=utf-8');
  return parsePromText(r.body);
}

/** Scrapes until every named check has run at least `runs` times. */
async function scrapeAfterRuns(url: string, checks: string[], runs = 1, timeoutMs = 15_000): Promise<Map<string, Family>> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const m = await scrape(url);
    const f = m.get('conndx_check_runs_total');
    if (checks.every((c) => (f?.samples.find((s) => s.labels.check === c)?.value ?? 0) >= runs)) return m;
    if (Date.now() > deadline) throw new Error(`checks did not run ${runs} times: ${JSON.stringify(f?.samples)}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

function writeConfig(name: string, yaml: string): string {
  const file = join(dir, name);
  writeFileSync(file, yaml);
  return file;
}

const baseConfig = () => `checks:
  - name: db
    tcp: ${ep['tcp-open']!.addr}
    interval: 1s
  - name: refused
    tcp: ${ep['tcp-refuse']!.addr}
    interval: 1s
  - name: api-tls
    tls: ${ep['tls-ok']!.addr}
    sni: ${LAB_SERVER_NAME}
    ca: ca.pem
    interval: 1s
    expect: { minTlsVersion: TLSv1.3, certDaysLeft: 21 }
  - name: resolvers
    dns: lab.test
    server: ["${ep['dns-ok']!.addr}", "${ep['dns-nxdomain']!.addr}"]
    interval: 1s
    expect: { rcode: NOERROR }
`;

describe('conndx serve', () => {
  test("/metrics: every check's latest result in Prometheus names, parsed by a strict parser", async () => {
    const s = await serve(writeConfig('m.yaml', baseConfig()));
    try {
      const m = await scrapeAfterRuns(s.url, ['db', 'refused', 'api-tls', 'resolvers']);
      expect(sampleValue(m, 'probe_success', { check: 'db' })).toBe(1);
      expect(sampleValue(m, 'probe_success', { check: 'refused' })).toBe(0);
      expect(sampleValue(m, 'probe_success', { check: 'api-tls' })).toBe(1);
      expect(sampleValue(m, 'probe_success', { check: 'resolvers' })).toBe(0);
      expect(sampleValue(m, 'conndx_check_state', { check: 'refused' })).toBe(2);
      expect(m.get('probe_success')!.type).toBe('gauge');
      expect(m.get('conndx_probe_attempts_total')!.type).toBe('counter');
      expect(sampleValue(m, 'probe_duration_seconds', { check: 'db' })).toBeGreaterThan(0);
      expect(sampleValue(m, 'probe_duration_seconds', { check: 'db' })).toBeLessThan(3);
      expect(sampleValue(m, 'probe_dns_lookup_time_seconds', { check: 'db' })).toBe(0); // an address: nothing to resolve
      expect(sampleValue(m, 'probe_tls_version_info', { check: 'api-tls', version: 'TLSv1.3' })).toBe(1);
      const expiry = sampleValue(m, 'probe_ssl_earliest_cert_expiry', { check: 'api-tls' });
      expect(expiry - Date.now() / 1000).toBeGreaterThan(21 * 86400);
      // Per-phase durations: the TLS check reports its TCP connect and its handshake apart.
      const tlsP50 = sampleValue(m, 'conndx_probe_phase_duration_seconds', { check: 'api-tls', phase: 'tls', percentile: '50' });
      const tcpP50 = sampleValue(m, 'conndx_probe_phase_duration_seconds', { check: 'api-tls', phase: 'tcp', percentile: '50' });
      expect(tlsP50).toBeGreaterThan(0);
      expect(tcpP50).toBeGreaterThan(0);
      expect(tlsP50).toBeLessThan(3);
      // Outcome counters by name, created up front at 0; a refused connect is phase tcp.
      const refusedRuns = sampleValue(m, 'conndx_check_runs_total', { check: 'refused' });
      expect(sampleValue(m, 'conndx_probe_attempts_total', { check: 'refused', phase: 'tcp', outcome: 'refused' })).toBe(3 * refusedRuns);
      expect(sampleValue(m, 'conndx_probe_attempts_total', { check: 'refused', phase: 'tcp', outcome: 'timeout' })).toBe(0);
      expect(sampleValue(m, 'conndx_probe_attempts_total', { check: 'api-tls', phase: 'tcp', outcome: 'tcp:refused' })).toBe(0);
      expect(sampleValue(m, 'conndx_check_failure_phase', { check: 'refused', phase: 'tcp' })).toBe(1);
      expect(sampleValue(m, 'conndx_check_failure_phase', { check: 'db', phase: 'tcp' })).toBe(0);
      // Each DNS server on its own.
      expect(sampleValue(m, 'conndx_probe_success_ratio', { check: 'resolvers', target: ep['dns-ok']!.addr })).toBe(1);
      expect(sampleValue(m, 'conndx_probe_success_ratio', { check: 'resolvers', target: ep['dns-nxdomain']!.addr })).toBe(0);
      expect(
        sampleValue(m, 'conndx_probe_attempts_total', { check: 'resolvers', target: ep['dns-nxdomain']!.addr, outcome: 'nxdomain' }),
      ).toBeGreaterThanOrEqual(3);
      expect(sampleValue(m, 'conndx_check_loop_lag_seconds', { check: 'db' })).toBeGreaterThanOrEqual(0);
      expect(sampleValue(m, 'conndx_checks_configured')).toBe(4);
      expect(sampleValue(m, 'conndx_config_last_reload_successful')).toBe(1);
    } finally {
      expect(await s.stop()).toBe(0);
    }
  });

  test('/probe runs a module against a target of the config; other targets are refused', async () => {
    const s = await serve(writeConfig('p.yaml', `${baseConfig()}serve: { debug: true }\n`));
    try {
      const ok = await get(`${s.url}/probe?module=db&target=${ep['tcp-open']!.addr}`);
      expect(ok.status).toBe(200);
      const m = parsePromText(ok.body);
      expect(sampleValue(m, 'probe_success')).toBe(1);
      // The scraper knows what it asked for: no check label on a /probe answer.
      expect(m.get('probe_success')!.samples[0]!.labels).toEqual({});
      expect(sampleValue(m, 'conndx_probe_attempts_total', { outcome: 'ok', phase: 'tcp' })).toBe(3);
      // No certificate series for a probe that sees no certificate: an unset gauge would read 0, "expired in 1970".
      expect(m.has('probe_ssl_earliest_cert_expiry')).toBe(false);
      const tlsAnswer = parsePromText((await get(`${s.url}/probe?module=api-tls&target=${ep['tls-ok']!.addr}`)).body);
      expect(sampleValue(tlsAnswer, 'probe_ssl_earliest_cert_expiry')).toBeGreaterThan(Date.now() / 1000);

      // A DNS module's target is the server to ask, as with blackbox_exporter.
      const nx = parsePromText((await get(`${s.url}/probe?module=resolvers&target=${ep['dns-nxdomain']!.addr}`)).body);
      expect(sampleValue(nx, 'probe_success')).toBe(0);
      expect(sampleValue(nx, 'conndx_probe_attempts_total', { phase: 'dns', outcome: 'nxdomain' })).toBe(3);
      expect(nx.has('probe_ssl_earliest_cert_expiry')).toBe(false);

      // Another module's target is allowed when it is in the config for the same kind of probe.
      const other = parsePromText((await get(`${s.url}/probe?module=db&target=${ep['tcp-refuse']!.addr}`)).body);
      expect(sampleValue(other, 'probe_success')).toBe(0);

      const refused = await get(`${s.url}/probe?module=db&target=127.0.0.1:9`);
      expect(refused.status).toBe(403);
      expect(refused.body).toBe(
        'target "127.0.0.1:9" is not in the config: conndx serve probes only configured targets unless started with --allow-any-target\n',
      );
      expect((await get(`${s.url}/probe?module=nope&target=${ep['tcp-open']!.addr}`)).status).toBe(400);
      expect((await get(`${s.url}/probe?module=db`)).body).toBe('target parameter is missing\n');
      expect((await get(`${s.url}/probe?module=db&target=not%20a%20host`)).status).toBe(400);

      const debug = JSON.parse((await get(`${s.url}/probe?module=db&target=${ep['tcp-open']!.addr}&debug=true`)).body);
      expect(debug).toMatchObject({ module: 'db', state: 'OK', result: { probe: 'tcp', attempts: 3, succeeded: 3 } });

      const m2 = await scrape(s.url);
      expect(sampleValue(m2, 'conndx_probe_requests_total', { result: 'refused' })).toBe(1);
      expect(sampleValue(m2, 'conndx_probe_requests_total', { result: 'bad-request' })).toBe(3);
      expect(sampleValue(m2, 'conndx_probe_requests_total', { result: 'ok' })).toBe(5);
    } finally {
      await s.stop();
    }
  });

  test('--allow-any-target lets /probe run any target', async () => {
    const s = await serve(writeConfig('any.yaml', `checks:\n  - name: db\n    tcp: ${ep['tcp-open']!.addr}\n    interval: 1h\n`), [
      '--allow-any-target',
    ]);
    try {
      const r = await get(`${s.url}/probe?module=db&target=${ep['tcp-refuse']!.addr}`);
      expect(r.status).toBe(200);
      expect(sampleValue(parsePromText(r.body), 'conndx_probe_attempts_total', { outcome: 'refused' })).toBe(3);
    } finally {
      await s.stop();
    }
  });

  test('/-/healthy, unknown paths and methods', async () => {
    const s = await serve(writeConfig('h.yaml', `checks:\n  - name: db\n    tcp: ${ep['tcp-open']!.addr}\n    interval: 1h\n`));
    try {
      expect(await get(`${s.url}/-/healthy`)).toMatchObject({ status: 200, body: 'conndx is healthy.\n' });
      expect((await get(`${s.url}/nope`)).status).toBe(404);
      expect((await fetch(`${s.url}/metrics`, { method: 'POST' })).status).toBe(405);
    } finally {
      await s.stop();
    }
  });

  test('reload (SIGHUP): new checks appear, removed ones go, a bad config keeps the old one', async () => {
    const file = writeConfig(
      'r.yaml',
      `checks:\n  - name: db\n    tcp: ${ep['tcp-open']!.addr}\n    interval: 1s\n  - name: old\n    tcp: ${ep['tcp-refuse']!.addr}\n    interval: 1s\n`,
    );
    const s = await serve(file);
    try {
      await scrapeAfterRuns(s.url, ['db', 'old']);
      writeFileSync(
        file,
        `checks:\n  - name: db\n    tcp: ${ep['tcp-open']!.addr}\n    interval: 1s\n  - name: new\n    dns: lab.test\n    server: ${ep['dns-ok']!.addr}\n    interval: 1s\n`,
      );
      s.reload();
      const m = await scrapeAfterRuns(s.url, ['new']);
      expect(
        m
          .get('probe_success')!
          .samples.map((x) => x.labels.check)
          .sort(),
      ).toEqual(['db', 'new']);
      expect(sampleValue(m, 'probe_success', { check: 'new' })).toBe(1);
      expect(s.stderr.text).toContain('config reloaded: 2 checks');

      writeFileSync(file, 'checks:\n  - name: db\n    tcp: nowhere\n');
      s.reload();
      const m2 = await scrape(s.url);
      expect(sampleValue(m2, 'conndx_config_last_reload_successful')).toBe(0);
      expect(
        m2
          .get('probe_success')!
          .samples.map((x) => x.labels.check)
          .sort(),
      ).toEqual(['db', 'new']);
      expect(s.stderr.text).toContain(
        `config reload failed, keeping the previous config: ${file}:3:10: checks[0].tcp: bad address "nowhere": expected host:port`,
      );
    } finally {
      await s.stop();
    }
  });

  test('each check on its own interval; a slow check skips its own turns and delays no other', async () => {
    const file = writeConfig(
      'slow.yaml',
      `checks:
  - name: silent
    dns: lab.test
    server: ${ep['dns-drop']!.addr}
    timeout: 2500ms
    interval: 1s
  - name: db
    tcp: ${ep['tcp-open']!.addr}
    interval: 1s
`,
    );
    const s = await serve(file);
    try {
      await new Promise((r) => setTimeout(r, 4200));
      const m = await scrape(s.url);
      const dbRuns = sampleValue(m, 'conndx_check_runs_total', { check: 'db' });
      const silentRuns = sampleValue(m, 'conndx_check_runs_total', { check: 'silent' });
      // db: first run within 1s, then every 0.9-1.1s: 4 or 5 runs in 4.2s (3 at the least on a busy machine).
      expect(dbRuns).toBeGreaterThanOrEqual(3);
      expect(dbRuns).toBeLessThanOrEqual(5);
      // silent: each run takes 2.5s, so turns that come while it runs are skipped.
      expect(silentRuns).toBeGreaterThanOrEqual(1);
      expect(silentRuns).toBeLessThanOrEqual(2);
      expect(sampleValue(m, 'conndx_check_skipped_total', { check: 'silent' })).toBeGreaterThanOrEqual(1);
      expect(sampleValue(m, 'conndx_check_skipped_total', { check: 'db' })).toBe(0);
    } finally {
      await s.stop();
    }
  });

  test('a bad config at start: exit 3 with file:line:field', async () => {
    const file = writeConfig('bad.yaml', 'checks:\n  - name: db\n    tcp: 127.0.0.1:1\n    expect: { p99: fast }\n');
    const stderr = new Sink();
    const code = await main({ argv: ['serve', '--config', file, '--listen', '127.0.0.1:0'], stdout: new Sink(), stderr, env: {} });
    expect(code).toBe(3);
    expect(stderr.text).toBe(`conndx: ${file}:4:20: checks[0].expect.p99: bad p99 "fast": use a number with a unit, e.g. 250ms, 2s, 1m\n`);
  });
});

describe('bounded load', () => {
  test('--max-concurrent bounds /probe too: a request that finds no free slot in time gets 503', async () => {
    const cfg = parseChecks(
      `checks:\n  - name: silent\n    dns: lab.test\n    server: ${ep['dns-drop']!.addr}\n    timeout: 1s\n    count: 1\n    interval: 1h\n`,
      join(dir, 'busy.yaml'),
    );
    const logs: string[] = [];
    const srv = await startCheckServer(cfg, {
      host: '127.0.0.1',
      port: 0,
      load: () => cfg,
      allowAnyTarget: false,
      maxConcurrent: 1,
      log: (l) => logs.push(l),
      firstRunSpreadMs: 0,
      probeWaitMs: 200,
    });
    try {
      // The scheduled run holds the only slot for 1s (its query is never answered).
      await new Promise((r) => setTimeout(r, 50));
      const t0 = performance.now();
      const busy = await get(`${srv.url}/probe?module=silent&target=${ep['dns-drop']!.addr}`);
      const waited = performance.now() - t0;
      expect(busy.status).toBe(503);
      expect(busy.body).toBe('busy: 1 check runs in flight (--max-concurrent 1); no slot within 200 ms\n');
      expect(waited).toBeGreaterThanOrEqual(190);
      expect(waited).toBeLessThan(900);
      expect(sampleValue(await scrape(srv.url), 'conndx_probe_requests_total', { result: 'busy' })).toBe(1);
    } finally {
      await srv.close();
    }
    expect(logs.join('\n')).toContain('check silent: start -> CRITICAL');
  });
});

describe('the conndx process', () => {
  test('SIGHUP reloads, SIGTERM lets the run in flight finish and exits 0', async () => {
    const file = writeConfig(
      'sig.yaml',
      `checks:\n  - name: silent\n    dns: lab.test\n    server: ${ep['dns-drop']!.addr}\n    timeout: 1500ms\n    count: 1\n    interval: 1h\n`,
    );
    const child = spawn(process.execPath, [BIN, 'serve', '--config', file, '--listen', '127.0.0.1:0'], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let err = '';
    child.stderr.on('data', (d) => {
      err += d;
    });
    const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
    try {
      const until = async (re: RegExp) => {
        const deadline = Date.now() + 10_000;
        while (!re.test(err)) {
          if (Date.now() > deadline || child.exitCode !== null) throw new Error(`no ${re} in: ${err}`);
          await new Promise((r) => setTimeout(r, 20));
        }
      };
      await until(/listening on http:\/\/127\.0\.0\.1:\d+/);
      writeFileSync(
        file,
        `checks:\n  - name: silent\n    dns: lab.test\n    server: ${ep['dns-drop']!.addr}\n    timeout: 1500ms\n    count: 1\n    interval: 1h\n  - name: db\n    tcp: ${ep['tcp-open']!.addr}\n`,
      );
      child.kill('SIGHUP');
      await until(/config reloaded: 2 checks/);
      // Wait until the silent check is in flight (it starts within 1s and waits 1.5s for its reply):
      // once db has reported, the one run in flight can only be silent's.
      await until(/check db: start -> OK/);
      const url = /listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(err)![1]!;
      const deadline = Date.now() + 5000;
      while (!/^conndx_check_runs_in_flight 1$/m.test((await get(`${url}/metrics`)).body)) {
        if (Date.now() > deadline) throw new Error('the check never started');
        await new Promise((r) => setTimeout(r, 20));
      }
      const t0 = performance.now();
      child.kill('SIGTERM');
      expect(await exited).toBe(0);
      const ms = performance.now() - t0;
      expect(err).toMatch(
        /stopping: letting the runs in flight finish\n.*check silent: start -> CRITICAL \(success 0\/1 \(timeout 1\)\)\n.*conndx serve: stopped\n$/s,
      );
      expect(ms).toBeLessThan(3000);
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL');
    }
  });
});

describe('the limiter that bounds check runs', () => {
  test('never more than n at once, in order', async () => {
    const l = createLimiter(2);
    let active = 0;
    let peak = 0;
    const order: number[] = [];
    await Promise.all(
      Array.from({ length: 6 }, async (_, i) => {
        const release = await l.acquire();
        active++;
        peak = Math.max(peak, active);
        order.push(i);
        await new Promise((r) => setTimeout(r, 10));
        active--;
        release();
      }),
    );
    expect(peak).toBe(2);
    expect(order).toEqual([0, 1, 2, 3, 4, 5]);
    const ac = new AbortController();
    const hold = [await l.acquire(), await l.acquire()];
    const waiting = l.acquire(ac.signal);
    ac.abort(new Error('gave up'));
    await expect(waiting).rejects.toThrow('gave up');
    for (const h of hold) h();
    expect(l.active).toBe(0);
  });
});
