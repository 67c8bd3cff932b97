import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { LAB_SERVER_NAME } from '../../src/lab/certs.js';
import { runCli, runCliJson } from '../helpers/cli.js';
import { bench, need } from '../helpers/diagnose-env.js';
import { unwrapProse } from '../helpers/unwrap.js';

// --capture runs tcpdump on loopback: root and tcpdump, or skip (fail under CONNDX_REQUIRE_ROOT_TESTS=1).
const skip = need('tcpdump', { root: true, paths: ['/usr/sbin/tcpdump', '/usr/bin/tcpdump'] });

describe.skipIf(skip !== null)(`diagnose --capture${skip ? ` (skipped: ${skip})` : ''}`, () => {
  let b: Awaited<ReturnType<typeof bench>>;
  let ca: string;
  beforeAll(async () => {
    b = await bench();
    ca = await b.ca();
  });
  afterAll(() => b.close());

  test('dropped SYNs: the report carries the packet evidence (only SYNs, retransmitted, never answered)', async () => {
    const drop = await b.start('tcp-drop');
    const md = join(b.dir, 'drop.md');
    const { code, json } = await runCliJson([
      'diagnose',
      `db.v4.lab.test:${drop.port}`,
      ...b.args(['--count', '2', '--timeout', '1500ms', '--concurrency', '2', '--capture', '--report', md]),
    ]);
    expect(code).toBe(1);
    expect(json.verdict).toMatchObject({ phase: 'tcp', outcome: 'timeout' });
    expect(json.capture.ok).toBe(true);
    const key = `127.0.0.1:${drop.port}`;
    expect(json.capture.byAddress[key]).toMatchObject({ connections: 2, states: { S0: 2 } });
    expect(json.capture.byAddress[key].synRetransmits).toBeGreaterThanOrEqual(2);
    const ev = json.verdict.evidence.join('\n');
    expect(ev).toMatch(/capture: .*only SYNs and got no answer at all.*Zeek S0/);
    // Packets cannot tell a filter's drop from a full accept queue: the evidence says both.
    expect(ev).toMatch(/accept queue is full/);
    expect(ev).not.toMatch(/before they reach a listener/);
    const text = readFileSync(md, 'utf8');
    expect(text).toContain('## Packet capture');
    expect(text).toMatch(/2 of 2 connections sent only SYNs/);
  });

  test('reset after the ClientHello: the capture says the server sent the RST', async () => {
    const rst = await b.start('tls-rst-after-hello');
    const html = join(b.dir, 'rst.html');
    const { json } = await runCliJson([
      'diagnose',
      `https://api.v4.lab.test:${rst.port}/`,
      ...b.args(['--count', '2', '--sni', LAB_SERVER_NAME, '--ca', ca, '--capture', '--report', html]),
    ]);
    expect(json.verdict).toMatchObject({ phase: 'tls', outcome: 'reset' });
    const key = `127.0.0.1:${rst.port}`;
    // Two connections of the TCP phase (closed by us) and two of the TLS phase (reset by the server).
    expect(json.capture.byAddress[key].resetBy.server).toBe(2);
    expect(json.capture.byAddress[key].outcomes.reset).toBe(2);
    expect(json.verdict.evidence.join('\n')).toMatch(
      new RegExp(
        `capture: ${key.replace(/\./g, '\\.')}: the server sent the RST during the TLS handshake, right after the ClientHello, in 2 of 4 connections \\(SNI ${LAB_SERVER_NAME.replace(/\./g, '\\.')}\\)`,
      ),
    );
    expect(readFileSync(html, 'utf8')).toMatch(/<ul id="capture"><li>[^<]*the server sent the RST during the TLS handshake/);
  });

  test('a TLS alert: the alert on the wire joins the evidence', async () => {
    const alert = await b.start('tls-alert');
    const { json } = await runCliJson(['diagnose', `https://api.v4.lab.test:${alert.port}/`, ...b.args(['--count', '2', '--capture'])]);
    expect(json.verdict).toMatchObject({ phase: 'tls', outcome: 'alert:handshake_failure' });
    expect(json.capture.byAddress[`127.0.0.1:${alert.port}`].alerts).toEqual({ handshake_failure: 2 });
    expect(json.verdict.evidence.join('\n')).toMatch(/capture: .*TLS alert on the wire: handshake_failure \(2 connections\)/);
  });
});

describe('diagnose --capture without the means to capture', () => {
  test('nothing to capture (the name does not resolve): one line says why, and the diagnosis goes on', async () => {
    const b = await bench();
    try {
      const r = await runCli(['diagnose', 'https://api.nx.lab.test/', ...b.args(['--count', '1', '--capture'])]);
      expect(r.code).toBe(1);
      // One line of its own (a loaded machine may add its busy warning).
      const lines = unwrapProse(r.stderr.trim())
        .split('\n')
        .filter((l) => !/^warning: this process was/.test(l));
      expect(lines).toHaveLength(1);
      expect(lines[0]).toMatch(/--capture: .*the diagnosis went on without packets/);
      expect(r.stdout).toMatch(/VERDICT FAILING · dns · nxdomain/);
    } finally {
      await b.close();
    }
  });
  test.skipIf(process.getuid?.() === 0)('not root: one line says why, and the diagnosis goes on', async () => {
    const r = await runCli(['diagnose', '127.0.0.1:1', '--count', '1', '--capture']);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/--capture: .*(root|tcpdump).*went on without packets/);
    expect(r.stdout).toMatch(/VERDICT FAILING · tcp · refused/);
  });
});
