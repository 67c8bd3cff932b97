// Secrets never leave conndx: URL credentials, proxy credentials and --send bytes appear in no
// output, report, NDJSON or error line; a URL's query string only with --show-query.
// Real lab endpoints on 127.0.0.1; every command's stdout, stderr and files are searched.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { LAB_SERVER_NAME } from '../../src/lab/certs.js';
import { scrubArgv } from '../../src/core/secrets.js';
import type { LabEndpoint } from '../../src/lab/types.js';
import { runCli, type CliRun } from '../helpers/cli.js';
import { bench } from '../helpers/diagnose-env.js';

const PASSWORD = 'Hunter2pw';
const USER = 'alice0user';
const TOKEN = 'tok3nVALUE';
const PAYLOAD = 'PAYLOADbytes-xyz';

let b: Awaited<ReturnType<typeof bench>>;
let ca: string;
const ep: Record<string, LabEndpoint> = {};
beforeAll(async () => {
  b = await bench();
  for (const n of ['tls-ok', 'tcp-open', 'proxy-connect', 'http-ok']) ep[n] = await b.start(n);
  ca = await b.ca();
});
afterAll(() => b.close());

/** Every secret string, base64 of the proxy credentials included (a Proxy-Authorization header printed back). */
const SECRETS = [PASSWORD, USER, TOKEN, PAYLOAD, Buffer.from(`${USER}:${PASSWORD}`).toString('base64')];

function expectClean(where: string, text: string, secrets = SECRETS) {
  for (const s of secrets) expect(text.includes(s), `${where} holds ${s}:\n${text.slice(0, 2000)}`).toBe(false);
}

function expectRunClean(r: CliRun, files: string[] = [], secrets = SECRETS) {
  expectClean('stdout', r.stdout, secrets);
  expectClean('stderr', r.stderr, secrets);
  for (const f of files) expectClean(f, readFileSync(f, 'utf8'), secrets);
}

describe('meta.command as recorded', () => {
  test('--send bytes are their size, URL credentials …@, queries ?… unless --show-query', () => {
    expect(scrubArgv(['tcp', 'h:1', '--send', PAYLOAD])).toEqual(['tcp', 'h:1', '--send', `<${PAYLOAD.length} bytes>`]);
    expect(scrubArgv(['tcp', 'h:1', `--send=${PAYLOAD}`])).toEqual(['tcp', 'h:1', `--send=<${PAYLOAD.length} bytes>`]);
    expect(scrubArgv(['tcp', 'h:1', '--send', '@payload.bin'])).toEqual(['tcp', 'h:1', '--send', '@payload.bin']);
    expect(scrubArgv(['tls', 'h:1', '--proxy', `http://${USER}:${PASSWORD}@p:3128`])).toEqual(['tls', 'h:1', '--proxy', 'http://…@p:3128']);
    expect(scrubArgv(['diagnose', `https://h/x?token=${TOKEN}`])).toEqual(['diagnose', 'https://h/x?…']);
    expect(scrubArgv(['diagnose', `https://h/x?token=${TOKEN}`, '--show-query'])).toEqual([
      'diagnose',
      `https://h/x?token=${TOKEN}`,
      '--show-query',
    ]);
  });
});

describe('no command prints a secret', () => {
  test('tcp --send (human, --json, --ndjson)', async () => {
    const t = `127.0.0.1:${ep['tcp-open']!.port}`;
    for (const out of [[], ['--json'], ['--ndjson']]) {
      const r = await runCli(['tcp', t, '--send', PAYLOAD, '--count', '2', '--interval', '10ms', ...out]);
      expect(r.code, r.stderr).toBe(0);
      expectRunClean(r);
      if (out[0] === '--json') expect(JSON.parse(r.stdout).meta.command).toContain(`<${PAYLOAD.length} bytes>`);
    }
  });

  test('tls --proxy with credentials (human, --json, --ndjson), and a bad --proxy', async () => {
    const behind = String(ep['proxy-connect']!.info!.proxyTarget);
    const proxy = `http://${USER}:${PASSWORD}@127.0.0.1:${ep['proxy-connect']!.port}`;
    const caFile = b.file('proxy-ca.pem', String(ep['proxy-connect']!.info!.ca));
    for (const out of [[], ['--json'], ['--ndjson']]) {
      const r = await runCli(['tls', behind, '--proxy', proxy, '--sni', LAB_SERVER_NAME, '--ca', caFile, '--count', '2', ...out]);
      expect(r.code, r.stdout + r.stderr).toBe(0);
      expectRunClean(r);
    }
    const bad = await runCli(['tls', behind, '--proxy', `https://${USER}:${PASSWORD}@127.0.0.1:1`]);
    expect(bad.code).toBe(3);
    expectRunClean(bad);
  });

  test('diagnose: a URL with credentials is refused without printing them back', async () => {
    const r = await runCli(['diagnose', `https://${USER}:${PASSWORD}@api.lab.test:${ep['tls-ok']!.port}/x?token=${TOKEN}`, ...b.args()]);
    expect(r.code).toBe(3);
    expect(r.stderr).toMatch(/credentials in the URL/);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expectRunClean(r);
  });

  test('diagnose with a query: ?… in the terminal, --json and the md/html reports; shown with --show-query', async () => {
    // ä: the URL parser percent-encodes it, so the query as typed and as sent differ; neither is shown.
    const url = `https://api.lab.test:${ep['tls-ok']!.port}/healthz?token=${TOKEN}&n=ä`;
    const md = join(b.dir, 'q.md');
    const html = join(b.dir, 'q.html');
    const common = [url, ...b.args(['--count', '2', '--sni', LAB_SERVER_NAME, '--ca', ca, '-4'])];
    const human = await runCli(['diagnose', ...common, '--report', md]);
    expect(human.code, human.stdout + human.stderr).toBe(0);
    expect(human.stdout).toContain('/healthz?…');
    const json = await runCli(['diagnose', ...common, '--report', html, '--json']);
    expectRunClean(human, [md]);
    expectRunClean(json, [html]);
    expect(JSON.parse(json.stdout).meta.command).toContain('/healthz?…');
    // The query was still sent: the request the server got is the one asked (the lab answers 200 to any path).
    expect(JSON.parse(json.stdout).http.outcomes.ok).toBe(2);
    const shown = await runCli(['diagnose', ...common, '--show-query', '--json']);
    expect(JSON.parse(shown.stdout).plan.path).toBe(`/healthz?token=${TOKEN}&n=%C3%A4`);
    expect(JSON.parse(shown.stdout).target).toBe(url);
    expect(JSON.parse(shown.stdout).meta.command).toContain(`token=${TOKEN}`);
  });

  test('check with a config holding proxy credentials (human, --json, --dry-run) and a bad one', async () => {
    const behind = String(ep['proxy-connect']!.info!.proxyTarget);
    const caFile = b.file('check-ca.pem', String(ep['proxy-connect']!.info!.ca));
    const cfg = (proxy: string) => {
      const f = join(b.dir, `check-${Math.random().toString(36).slice(2)}.yaml`);
      writeFileSync(
        f,
        `checks:\n  - name: via-proxy\n    tls: ${behind}\n    sni: ${LAB_SERVER_NAME}\n    ca: ${caFile}\n    proxy: ${proxy}\n    count: 2\n`,
      );
      return f;
    };
    const good = cfg(`http://${USER}:${PASSWORD}@127.0.0.1:${ep['proxy-connect']!.port}`);
    for (const extra of [[], ['--json'], ['--dry-run']]) {
      const r = await runCli(['check', '--config', good, ...extra]);
      expect(r.code, r.stdout + r.stderr).toBe(0);
      expectRunClean(r);
    }
    const bad = await runCli(['check', '--config', cfg(`ftp://${USER}:${PASSWORD}@127.0.0.1:1`)]);
    expect(bad.code).toBe(3);
    expectRunClean(bad);
  });
});
