import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { LAB_SERVER_NAME } from '../../src/lab/certs.js';
import { runCli } from '../helpers/cli.js';
import { bench, CHROMIUM, need } from '../helpers/diagnose-env.js';

const run = promisify(execFile);
const skip = need('chromium', { paths: CHROMIUM });
const chromium = () => CHROMIUM.find((p) => existsSync(p)) ?? 'chromium';

/** Headless Chromium, isolated: its own profile, no network services of its own. */
async function headless(args: string[]): Promise<{ stdout: string; stderr: string }> {
  const profile = mkdtempSync(join(tmpdir(), 'conndx-chromium-'));
  try {
    return await run(
      chromium(),
      [
        '--headless',
        '--no-sandbox',
        '--disable-gpu',
        '--disable-quic',
        '--no-first-run',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
        '--disable-dev-shm-usage',
        '--enable-logging=stderr',
        '--v=0',
        `--user-data-dir=${profile}`,
        ...args,
      ],
      { timeout: 60_000, maxBuffer: 16 << 20 },
    );
  } finally {
    rmSync(profile, { recursive: true, force: true });
  }
}

let b: Awaited<ReturnType<typeof bench>>;
let page: string;
beforeAll(async () => {
  b = await bench();
  const ok = await b.start('tls-ok');
  const ca = await b.ca();
  page = join(b.dir, 'report.html');
  // Both families: ::1 refuses while 127.0.0.1 answers, so the page has a verdict, a waterfall and four histograms.
  const r = await runCli([
    'diagnose',
    `https://api.lab.test:${ok.port}/healthz`,
    ...b.args(['--count', '5', '--sni', LAB_SERVER_NAME, '--ca', ca, '--report', page]),
  ]);
  expect(r.code).toBe(1);
});
afterAll(() => b.close());

describe('--report FILE.html', () => {
  test('one self-contained page: no scripts, no external assets', () => {
    const html = readFileSync(page, 'utf8');
    expect(html).toMatch(/^<!doctype html>/);
    expect(html).not.toMatch(/<script|<link|<img|\bsrc=|\bhref=|url\(|@import/i);
    expect(html.match(/<svg /g)?.length).toBeGreaterThanOrEqual(5);
  });

  test.skipIf(skip !== null)(`renders in headless Chromium with its charts${skip ? ` (skipped: ${skip})` : ''}`, async () => {
    const { stdout: dom, stderr } = await headless(['--dump-dom', pathToFileURL(page).href]);
    // The rendered DOM: the verdict, a waterfall bar per phase that succeeded somewhere, a histogram per phase.
    expect(dom).toMatch(/<div class="verdict" id="verdict" data-status="degraded" data-phase="tcp" data-outcome="refused"/);
    const waterfall = /<svg id="waterfall"[\s\S]*?<\/svg>/.exec(dom)?.[0] ?? '';
    expect(waterfall.match(/<rect class="bar" data-phase="(lookup|connect|tls|first byte)"/g)).toHaveLength(4);
    for (const m of waterfall.matchAll(/<rect class="bar"[^>]* width="([\d.]+)"/g)) expect(Number(m[1])).toBeGreaterThan(0);
    const hist = dom.match(/<svg class="histogram" data-phase="[^"]+"/g) ?? [];
    expect(hist).toHaveLength(4);
    expect((dom.match(/<rect class="hbar"/g) ?? []).length).toBeGreaterThanOrEqual(4);
    expect(stderr).not.toMatch(/Uncaught|SyntaxError|Failed to load resource/);
  });

  test.skipIf(skip !== null)('a screenshot of the page is taken (a PNG, for a person to look at)', async () => {
    const png = join(b.dir, 'report.png');
    await headless(['--screenshot=' + png, '--window-size=1000,1600', '--hide-scrollbars', pathToFileURL(page).href]);
    expect(statSync(png).size).toBeGreaterThan(20_000);
    const buf = readFileSync(png);
    expect(buf.subarray(1, 4).toString('latin1')).toBe('PNG');
  });
});
