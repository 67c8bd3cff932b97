import { afterEach, describe, expect, test } from 'vitest';
import { writeFileSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { TCP_LAB } from '../../src/lab/tcp.js';
import type { LabEndpoint } from '../../src/lab/types.js';
import { formatHostPort } from '../../src/parse.js';
import { runCli, runCliJson } from '../helpers/cli.js';

const open: LabEndpoint[] = [];
afterEach(async () => {
  await Promise.all(open.splice(0).map((e) => e.close()));
});
async function start(name: string, host?: string): Promise<string> {
  const ep = await TCP_LAB[name]!(host ? { host } : undefined);
  open.push(ep);
  return formatHostPort(ep.host, ep.port);
}

describe('conndx tcp', () => {
  test('ok: contract result, synRetransmitSuspected always present, exit 0', async () => {
    const addr = await start('tcp-open');
    const { code, json } = await runCliJson(['tcp', addr, '--count', '5', '--concurrency', '2']);
    expect(code).toBe(0);
    expect(json).toMatchObject({
      probe: 'tcp',
      target: addr,
      attempts: 5,
      succeeded: 5,
      failed: 0,
      outcomes: { ok: 5 },
      synRetransmitSuspected: 0,
    });
    expect(json.latencyMs.p50).toBeGreaterThan(0);
    expect(json.latencyMs.p50).toBeLessThan(100);
    expect(json.lookupMs).toBeUndefined();
    expect(json.meta.command).toContain('tcp');
  });

  test('IPv6 with -6', async () => {
    const addr = await start('tcp-open', '::1');
    const { code, json } = await runCliJson(['tcp', addr, '-6', '--count', '2']);
    expect(code).toBe(0);
    expect(json.outcomes).toEqual({ ok: 2 });
  });

  test('refused: exit 2, outcome refused', async () => {
    const addr = await start('tcp-refuse');
    const { code, json } = await runCliJson(['tcp', addr, '--count', '3']);
    expect(code).toBe(2);
    expect(json.outcomes).toEqual({ refused: 3 });
    expect(json.latencyMs).toBeNull();
    expect(json.localErrors).toBeUndefined();
  });

  test('several targets: byTarget keyed as written, exit 1 when some fail', async () => {
    const ok = await start('tcp-open');
    const refused = await start('tcp-refuse');
    const { code, json } = await runCliJson(['tcp', ok, refused, '--count', '2']);
    expect(code).toBe(1);
    expect(json.outcomes).toEqual({ ok: 2, refused: 2 });
    expect(json.byTarget[ok].outcomes).toEqual({ ok: 2 });
    expect(json.byTarget[refused].outcomes).toEqual({ refused: 2 });
    expect(json.byTarget[ok].synRetransmitSuspected).toBe(0);
    expect(json.failures).toEqual({ tcp: 2, app: 0 });
  });

  test('drop: timeouts past the first SYN retransmission step are counted as synRetransmitSuspected', async () => {
    const addr = await start('tcp-drop');
    const { code, json } = await runCliJson(['tcp', addr, '--count', '2', '--concurrency', '2', '--timeout', '1200ms']);
    expect(code).toBe(2);
    expect(json.outcomes).toEqual({ timeout: 2 });
    expect(json.synRetransmitSuspected).toBe(2);
    expect(json.synSchedule.stepsMs[0]).toBe(1000);
  });

  test('drop with a short timeout: timeouts, nothing suspected', async () => {
    const addr = await start('tcp-drop');
    const { json } = await runCliJson(['tcp', addr, '--count', '2', '--concurrency', '2', '--timeout', '300ms']);
    expect(json.outcomes).toEqual({ timeout: 2 });
    expect(json.synRetransmitSuspected).toBe(0);
  });

  test('--hold: reset and closed after the handshake, with what the peer did', async () => {
    const rst = await start('tcp-rst-accept');
    const fin = await start('tcp-fin-accept');
    const quiet = await start('tcp-open');
    const { code, json } = await runCliJson(['tcp', rst, fin, quiet, '--count', '2', '--hold', '300ms']);
    expect(code).toBe(1);
    expect(json.byTarget[rst].outcomes).toEqual({ reset: 2 });
    expect(json.byTarget[fin].outcomes).toEqual({ closed: 2 });
    expect(json.byTarget[quiet].outcomes).toEqual({ ok: 2 });
    expect(json.peerAfterConnect).toEqual({ rst: 2, fin: 2, quiet: 2 });
    // The same phase vocabulary as `pcap`: failures after the handshake are phase app.
    expect(json.failures).toEqual({ tcp: 0, app: 4 });
    expect(json.byTarget[rst].failures).toEqual({ tcp: 0, app: 2 });
  });

  test('--send with escapes: first byte, bytes received; RST after data is reset', async () => {
    const slow = await start('tcp-slow');
    const r = await runCliJson(['tcp', slow, '--count', '2', '--send', 'ping\\r\\n']);
    expect(r.code).toBe(0);
    expect(r.json.firstByteMs.p50).toBeGreaterThanOrEqual(290);
    expect(r.json.peerAfterConnect).toEqual({ data: 2 });
    const rad = await start('tcp-rst-after-data');
    const r2 = await runCliJson(['tcp', rad, '--count', '2', '--send', 'x']);
    expect(r2.code).toBe(2);
    expect(r2.json.outcomes).toEqual({ reset: 2 });
  });

  test('--send @file sends the file bytes', async () => {
    const addr = await start('tcp-open');
    const dir = mkdtempSync(join(tmpdir(), 'conndx-tcp-'));
    const f = join(dir, 'req.bin');
    writeFileSync(f, Buffer.alloc(1000, 7));
    const r = await runCli(['tcp', addr, '--count', '1', '--send', `@${f}`, '--hold', '200ms', '--ndjson']);
    expect(r.code).toBe(0);
    const line = JSON.parse(r.stdout.trim());
    expect(line.detail.bytesReceived).toBe(1000);
    expect(line.phase).toBe('tcp');
  });

  test('per-attempt NDJSON: phase tcp for connect failures, app after the handshake', async () => {
    const refused = await start('tcp-refuse');
    const fin = await start('tcp-fin-accept');
    const r = await runCli(['tcp', refused, fin, '--count', '1', '--hold', '300ms', '--ndjson']);
    const lines = r.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    const byT = Object.fromEntries(lines.map((l) => [l.target, l]));
    expect(byT[refused]).toMatchObject({ outcome: 'refused', phase: 'tcp' });
    expect(byT[fin]).toMatchObject({ outcome: 'closed', phase: 'app', detail: { peer: 'fin' } });
  });

  test('human output: header, per-attempt lines, peer summary', async () => {
    const addr = await start('tcp-fin-accept');
    const r = await runCli(['tcp', addr, '--count', '2', '--hold', '200ms']);
    expect(r.stdout.split('\n')[0]).toBe(`CONNDX TCP ${addr} (count 2, concurrency 1, timeout 3s, hold 200 ms)`);
    expect(r.stdout).toMatch(/seq=0 .* closed \[app\] .*peer fin after/);
    expect(r.stdout).toContain('after connect the peer: closed (FIN) 2');
    expect(r.stdout).toContain('failures by phase: tcp 0, app 2 (closed 2)');
  });

  test('a host name is resolved once and its lookup time reported apart (localhost, from the hosts file)', async () => {
    const ep = await TCP_LAB['tcp-open']!();
    open.push(ep);
    const { code, json } = await runCliJson(['tcp', `localhost:${ep.port}`, '-4', '--count', '2']);
    expect(code).toBe(0);
    expect(json.lookupMs).toBeGreaterThanOrEqual(0);
    expect(json.address).toBe('127.0.0.1');
  });

  test.each([
    [['tcp', '127.0.0.1'], /expected host:port/],
    [['tcp', '127.0.0.1:99999'], /port must be 1-65535/],
    [['tcp', '127.0.0.1:80', '--close', 'maybe'], /--close/],
    [['tcp', '127.0.0.1:80', '--hold', 'soon'], /bad --hold/],
    [['tcp', '127.0.0.1:80', '-6'], /IPv4 address but -6/],
    [['tcp', '127.0.0.1:80', '--send', '@/nonexistent/conndx-file'], /cannot read --send file/],
  ])('bad input %j: one line, exit 3', async (argv, msg) => {
    const r = await runCli(argv as string[]);
    expect(r.code).toBe(3);
    expect(r.stderr).toMatch(msg);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stdout).toBe('');
  });
});
