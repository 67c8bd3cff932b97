import { spawn } from 'node:child_process';
import { createServer, type Server } from 'node:net';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { runCli, runCliJson } from '../helpers/cli.js';
import { BIN } from '../helpers/lab.js';

// Pacing as ping does it: one attempt per target per interval, every line
// printed as it comes, and --watch until Ctrl-C, which is then its normal end.

let server: Server;
let target = '';
beforeAll(async () => {
  server = createServer((s) => s.on('error', () => {}).end());
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  target = `127.0.0.1:${(server.address() as { port: number }).port}`;
});
afterAll(() => new Promise<void>((r) => server.close(() => r())));

describe('--interval', () => {
  test('attempts start an interval apart, never sooner; the header says the pace', async () => {
    const t0 = performance.now();
    const r = await runCliJson(['tcp', target, '--interval', '200ms', '--count', '4']);
    const wall = performance.now() - t0;
    expect(r.json.attempts).toBe(4);
    expect(r.json.outcomes).toEqual({ ok: 4 });
    // Four starts scheduled at 0, 200, 400 and 600 ms, none sooner: the run lasts at least 600 ms
    // (the first start may itself be late, so the last start is not measured from it).
    expect(wall).toBeGreaterThanOrEqual(600);
    expect(r.json.elapsedMs).toBeLessThanOrEqual(wall);
    // Latency is each attempt's own time (no scheduler time in it): no open-loop service split.
    expect(r.json.serviceMs).toBeUndefined();
    const text = await runCli(['tcp', target, '-i', '100ms', '-c', '2']);
    expect(text.stdout.split('\n')[0]).toContain('every 100ms per target');
  });

  test('every attempt gets its line, however many (ping prints each reply)', async () => {
    const r = await runCli(['tcp', target, '--interval', '1ms', '--count', '150']);
    expect(r.stdout.split('\n').filter((l) => l.startsWith('seq='))).toHaveLength(150);
  });

  test('--duration alone asks for a time, not for load: one attempt a second', async () => {
    const r = await runCliJson(['tcp', target, '--duration', '1500ms']);
    expect(r.json.attempts).toBe(2);
    const loaded = await runCliJson(['tcp', target, '--duration', '300ms', '--concurrency', '2']);
    expect(loaded.json.attempts).toBeGreaterThan(2);
  });

  test.each([
    [['--watch', '--count', '3'], /--watch runs until Ctrl-C/],
    [['--interval', '1s', '--rate', '10'], /--interval paces/],
    [['--interval', '0'], /bad --interval/],
  ])('%j is bad input: one line, exit 3', async (args, msg) => {
    const r = await runCli(['tcp', target, ...args]);
    expect(r.code).toBe(3);
    expect(r.stderr).toMatch(msg);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
  });
});

test('--watch runs until Ctrl-C, which ends it normally: the summary, and the exit code of the results', async () => {
  const child = spawn(process.execPath, [BIN, 'tcp', target, '--watch', '--interval', '100ms'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += String(d)));
  const hard = setTimeout(() => child.kill('SIGKILL'), 20_000);
  let sent = false;
  const code = await new Promise<number | null>((resolve) => {
    child.stdout.on('data', (d: Buffer) => {
      stdout += String(d);
      // One Ctrl-C, once a few attempts have been printed.
      if (!sent && (stdout.match(/^seq=/gm) ?? []).length >= 3) {
        sent = true;
        child.kill('SIGINT');
      }
    });
    child.on('exit', (c) => resolve(c));
  });
  clearTimeout(hard);
  expect(stdout.split('\n')[0]).toContain('until Ctrl-C');
  expect(stdout).toMatch(/tcp statistics/);
  expect(code).toBe(0);
  expect(stderr).not.toMatch(/interrupted/);
});
