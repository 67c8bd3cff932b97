// The real Prometheus server (Debian package `prometheus`) scrapes conndx
// serve, with the scrape config of docs/prometheus/prometheus.yml pointed at
// loopback; promtool checks the exposition, the config and the alert rules.
// Skipped with the reason when the package is missing; CONNDX_REQUIRE_ROOT_TESTS=1 (CI) fails instead.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, test } from 'vitest';
import { parse, stringify } from 'yaml';
import type { LabEndpoint } from '../../src/lab/types.js';
import { prometheusEnv, ROOT_TESTS_REQUIRED } from '../helpers/checks-env.js';
import { BIN, lab } from '../helpers/lab.js';

const DOCS = fileURLToPath(new URL('../../docs/prometheus/', import.meta.url));
const FIX = fileURLToPath(new URL('../../fixtures/checks/', import.meta.url));
const env = prometheusEnv();

test.runIf(!env.ok && ROOT_TESTS_REQUIRED)('the prometheus tests can run (CONNDX_REQUIRE_ROOT_TESTS=1)', () => {
  expect.fail(env.reason);
});

const children: ChildProcess[] = [];
const cleanups: (() => Promise<void> | void)[] = [];
afterAll(async () => {
  for (const c of children)
    if (c.exitCode === null && c.signalCode === null) {
      c.kill('SIGTERM');
      await once(c, 'exit');
    }
  for (const f of cleanups.reverse()) await f();
});

async function freePort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as net.AddressInfo).port;
  await new Promise((r) => s.close(r));
  return port;
}

function start(cmd: string, args: string[]): { child: ChildProcess; err: () => string } {
  const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  children.push(child);
  let err = '';
  child.stdout!.on('data', (d) => {
    err += d;
  });
  child.stderr!.on('data', (d) => {
    err += d;
  });
  return { child, err: () => err };
}

async function waitFor<T>(what: string, fn: () => Promise<T | undefined>, timeoutMs: number, log: () => string): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      const v = await fn();
      if (v !== undefined) return v;
    } catch {
      /* not yet */
    }
    if (Date.now() > deadline) throw new Error(`${what} within ${timeoutMs} ms; log:\n${log().slice(-3000)}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

describe.skipIf(!env.ok)(`Prometheus scrapes conndx serve${env.ok ? '' : ` (skipped: ${env.reason})`}`, () => {
  test('promtool accepts the documented scrape config and alert rules, and the rules fire as intended', () => {
    expect(execFileSync('promtool', ['check', 'config', join(DOCS, 'prometheus.yml')], { encoding: 'utf8' })).toContain('SUCCESS');
    expect(execFileSync('promtool', ['check', 'rules', join(DOCS, 'alerts.yml')], { encoding: 'utf8' })).toContain(
      'SUCCESS: 10 rules found',
    );
    expect(execFileSync('promtool', ['test', 'rules', join(FIX, 'alerts-test.yml')], { encoding: 'utf8' })).toContain('SUCCESS');
  });

  test('both jobs of the documented config are up: /metrics and the /probe multi-target pattern', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'conndx-prom-'));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    const open: LabEndpoint & { addr: string } = await lab('tcp-open');
    cleanups.push(() => open.close());

    const checks = join(dir, 'checks.yaml');
    writeFileSync(checks, `checks:\n  - name: db\n    tcp: ${open.addr}\n    interval: 1s\n`);
    const serve = start(process.execPath, [BIN, 'serve', '--config', checks, '--listen', '127.0.0.1:0']);
    const serveAddr = await waitFor(
      'conndx serve listening',
      async () => /listening on http:\/\/(127\.0\.0\.1:\d+)/.exec(serve.err())?.[1],
      10_000,
      serve.err,
    );

    // promtool reads the exposition as Prometheus does.
    const metrics = await waitFor(
      'a first run of db',
      async () => {
        const body = await (await fetch(`http://${serveAddr}/metrics`)).text();
        return /^probe_success\{check="db"\} 1$/m.test(body) ? body : undefined;
      },
      10_000,
      serve.err,
    );
    const lint = spawn('promtool', ['check', 'metrics'], { stdio: ['pipe', 'pipe', 'pipe'] });
    let lintOut = '';
    lint.stdout.on('data', (d) => {
      lintOut += d;
    });
    lint.stderr.on('data', (d) => {
      lintOut += d;
    });
    lint.stdin.end(metrics);
    const [lintCode] = await once(lint, 'exit');
    expect(lintOut).toBe('');
    expect(lintCode).toBe(0);

    // The documented config, pointed at this conndx and this lab endpoint.
    const cfg = parse(readFileSync(join(DOCS, 'prometheus.yml'), 'utf8'));
    cfg.global = { scrape_interval: '1s', evaluation_interval: '1s', scrape_timeout: '1s' };
    cfg.rule_files = [join(DOCS, 'alerts.yml')];
    const [own, probe] = cfg.scrape_configs;
    expect(own.job_name).toBe('conndx');
    own.static_configs = [{ targets: [serveAddr], labels: { location: 'lab' } }];
    expect(probe.metrics_path).toBe('/probe');
    probe.params.module = ['db'];
    probe.scrape_timeout = '1s';
    probe.static_configs = [{ targets: [open.addr], labels: { location: 'lab' } }];
    const toConndx = probe.relabel_configs.find((r: { target_label: string }) => r.target_label === '__address__');
    toConndx.replacement = serveAddr;
    writeFileSync(join(dir, 'prometheus.yml'), stringify(cfg));

    const port = await freePort();
    const prom = start('prometheus', [
      `--config.file=${join(dir, 'prometheus.yml')}`,
      `--storage.tsdb.path=${join(dir, 'data')}`,
      `--web.listen-address=127.0.0.1:${port}`,
      '--log.level=warn',
    ]);
    const api = `http://127.0.0.1:${port}/api/v1`;
    type Target = { labels: Record<string, string>; health: string; lastError: string; scrapeUrl: string };
    const targets = await waitFor(
      'both jobs up',
      async () => {
        const r = (await (await fetch(`${api}/targets?state=active`)).json()) as { data: { activeTargets: Target[] } };
        const t = r.data.activeTargets;
        return t.length === 2 && t.every((x) => x.health === 'up') ? t : undefined;
      },
      30_000,
      prom.err,
    );
    const byJob = Object.fromEntries(targets.map((t) => [t.labels.job, t]));
    expect(byJob.conndx!.scrapeUrl).toBe(`http://${serveAddr}/metrics`);
    expect(byJob['conndx-probe-api-tls']!.scrapeUrl).toBe(`http://${serveAddr}/probe?module=db&target=${encodeURIComponent(open.addr)}`);
    expect(byJob['conndx-probe-api-tls']!.labels.instance).toBe(open.addr);

    const query = async (q: string) => {
      const r = (await (await fetch(`${api}/query?query=${encodeURIComponent(q)}`)).json()) as {
        data: { result: { metric: Record<string, string>; value: [number, string] }[] };
      };
      return r.data.result;
    };
    const own1 = await waitFor(
      'probe_success of db in Prometheus',
      async () => {
        const r = await query('probe_success{job="conndx",check="db"}');
        return r.length ? r : undefined;
      },
      15_000,
      prom.err,
    );
    expect(own1[0]!.value[1]).toBe('1');
    expect(own1[0]!.metric.location).toBe('lab');
    const viaProbe = await query(`probe_success{job="conndx-probe-api-tls",instance="${open.addr}"}`);
    expect(viaProbe.map((r) => r.value[1])).toEqual(['1']);
    const attempts = await query('conndx_probe_attempts_total{job="conndx",check="db",outcome="ok"}');
    expect(Number(attempts[0]!.value[1])).toBeGreaterThanOrEqual(3);

    prom.child.kill('SIGTERM');
    await once(prom.child, 'exit');
    serve.child.kill('SIGTERM');
    const [code] = await once(serve.child, 'exit');
    expect(code).toBe(0);
  }, 90_000);
});
