// STARTTLS: the plaintext upgrade is its own phase, with its own outcomes and time, before the TLS phase.
// Real servers on 127.0.0.1: the lab's SMTP and PostgreSQL endpoints, and small IMAP, POP3, LDAP and
// MySQL servers here that speak each dialog and then hand the socket to a real TLS server.
import * as net from 'node:net';
import * as tls from 'node:tls';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { labPki, type LabPki } from '../../src/lab/certs.js';
import { STARTTLS_LAB } from '../../src/lab/starttls.js';
import type { LabEndpoint } from '../../src/lab/types.js';
import { parseStarttls, type StarttlsProtocol } from '../../src/probes/starttls.js';
import { createTlsProbe } from '../../src/probes/tls.js';
import { runCli, runCliJson } from '../helpers/cli.js';
import { parseDiagnoseTarget } from '../../src/cli/commands/diagnose.js';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

let pki: LabPki;
const eps: Record<string, LabEndpoint> = {};
const servers: net.Server[] = [];
beforeAll(async () => {
  pki = await labPki();
  for (const [name, f] of Object.entries(STARTTLS_LAB)) eps[name] = await f();
});
afterAll(async () => {
  await Promise.all(Object.values(eps).map((e) => e.close()));
  for (const s of servers) s.close();
});

const signal = () => new AbortController().signal;

async function probe(port: number, starttls: StarttlsProtocol, timeoutMs = 2000) {
  const p = createTlsProbe({ timeoutMs, ca: pki.ca.cert, starttls });
  return p({ key: `127.0.0.1:${port}`, host: '127.0.0.1', port, serverName: 'lab.conndx.test' }, signal());
}

/**
 * A server that runs `script` on each connection; `upgrade(rest)` hands the socket to TLS with the
 * lab chain, `rest` being bytes already read past the dialog (a MySQL client sends its ClientHello
 * right behind the SSLRequest): the TLS socket takes a paused socket's buffered bytes first.
 */
async function scripted(script: (s: net.Socket, upgrade: (rest?: Buffer) => void) => void): Promise<number> {
  const context = tls.createSecureContext({ cert: pki.valid.cert + pki.intermediate.cert, key: pki.valid.key });
  const server = net.createServer((s) => {
    s.on('error', () => {});
    script(s, (rest) => {
      s.removeAllListeners('data');
      s.pause();
      if (rest?.length) s.unshift(rest);
      const t = new tls.TLSSocket(s, { isServer: true, secureContext: context });
      t.on('error', () => {});
    });
  });
  servers.push(server);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  return (server.address() as net.AddressInfo).port;
}

/** Calls `on(line)` for each line the client sends. */
function onLines(s: net.Socket, on: (line: string) => void) {
  let buf = '';
  s.on('data', (d) => {
    buf += d.toString('latin1');
    for (let i = buf.indexOf('\n'); i >= 0; i = buf.indexOf('\n')) {
      const line = buf.slice(0, i).replace(/\r$/, '');
      buf = buf.slice(i + 1);
      on(line);
    }
  });
}

describe('lab endpoints', () => {
  test.each([
    ['smtp-starttls', 'smtp', 'ok'],
    ['postgres-ssl', 'postgres', 'ok'],
  ] as const)('%s: the upgrade, then a verified handshake; each timed apart', async (name, proto, want) => {
    const a = await probe(eps[name]!.port, proto);
    expect(a.outcome, a.cause).toBe(want);
    expect(a.phase).toBe('tls');
    expect(a.timings?.tcpConnectMs).toBeGreaterThan(0);
    expect(a.timings?.starttlsMs).toBeGreaterThan(0);
    expect(a.ms).toBeGreaterThan(0);
    expect((a.facts?.negotiated as { version: string }).version).toBe('TLSv1.3');
  });

  test('smtp-no-starttls: starttls-not-offered, with the EHLO reply', async () => {
    const a = await probe(eps['smtp-no-starttls']!.port, 'smtp');
    expect(a.outcome).toBe('starttls-not-offered');
    expect(a.phase).toBe('starttls');
    expect(a.ms).toBeNull();
    expect(a.cause).toMatch(/EHLO reply does not list STARTTLS: 250-lab\.conndx\.test/);
    expect(a.tallies?.starttlsReplies).toMatch(/250 8BITMIME/);
    expect(a.timings?.starttlsMs).toBeUndefined();
  });

  test("smtp-starttls-refused: starttls-refused, quoting the server's reply", async () => {
    const a = await probe(eps['smtp-starttls-refused']!.port, 'smtp');
    expect(a.outcome).toBe('starttls-refused');
    expect(a.phase).toBe('starttls');
    expect(a.cause).toContain('454 4.7.0 TLS not available due to temporary reason');
  });

  test("postgres-no-ssl: the server's 'N' is starttls-not-offered", async () => {
    const a = await probe(eps['postgres-no-ssl']!.port, 'postgres');
    expect(a.outcome).toBe('starttls-not-offered');
    expect(a.phase).toBe('starttls');
    expect(a.cause).toMatch(/answered the SSLRequest with N/);
  });

  test('the wrong dialog for the server: an SMTP server asked for PostgreSQL is no go-ahead', async () => {
    const a = await probe(eps['smtp-starttls']!.port, 'postgres');
    expect(a.outcome).toBe('starttls-protocol-error');
    expect(a.phase).toBe('starttls');
  });
});

describe('the other dialogs, each against a server speaking it', () => {
  test('a server that greets and then says nothing: starttls-timeout at --timeout', async () => {
    const port = await scripted((s) => s.write('220 silent ESMTP\r\n'));
    const t0 = performance.now();
    const a = await probe(port, 'smtp', 300);
    const took = performance.now() - t0;
    expect(a.outcome).toBe('starttls-timeout');
    expect(a.phase).toBe('starttls');
    expect(took).toBeGreaterThanOrEqual(295);
    expect(a.cause).toMatch(/no complete answer within/);
  });

  test('a server that closes after the greeting: starttls-closed; one that resets: starttls-reset', async () => {
    const fin = await scripted((s) => s.end());
    const rst = await scripted((s) => s.on('data', () => s.resetAndDestroy()));
    const closed = await probe(fin, 'pop3');
    expect(closed.outcome).toBe('starttls-closed');
    expect(closed.phase).toBe('starttls');
    expect((await probe(rst, 'postgres')).outcome).toBe('starttls-reset');
  });

  test('IMAP: CAPABILITY lists STARTTLS, the tagged OK, then TLS; without it, not offered', async () => {
    const imap = (offer: boolean) =>
      scripted((s, upgrade) => {
        s.write('* OK IMAP4rev1 ready\r\n');
        onLines(s, (line) => {
          const [tag, cmd] = line.split(' ');
          if (cmd === 'CAPABILITY') s.write(`* CAPABILITY IMAP4rev1 ${offer ? 'STARTTLS ' : ''}LOGINDISABLED\r\n${tag} OK done\r\n`);
          else if (cmd === 'STARTTLS') {
            s.write(`${tag} OK Begin TLS negotiation now\r\n`);
            upgrade();
          } else s.write(`${tag} BAD what\r\n`);
        });
      });
    const ok = await probe(await imap(true), 'imap');
    expect(ok.outcome, ok.cause).toBe('ok');
    expect(ok.timings?.starttlsMs).toBeGreaterThan(0);
    const no = await probe(await imap(false), 'imap');
    expect(no.outcome).toBe('starttls-not-offered');
    expect(no.cause).toMatch(/IMAP4rev1 LOGINDISABLED/);
  });

  test('POP3: CAPA lists STLS, +OK, then TLS; -ERR to STLS is refused', async () => {
    const pop = (answer: string) =>
      scripted((s, upgrade) => {
        s.write('+OK POP3 ready\r\n');
        onLines(s, (line) => {
          if (line === 'CAPA') s.write('+OK\r\nUSER\r\nSTLS\r\n.\r\n');
          else if (line === 'STLS') {
            s.write(`${answer}\r\n`);
            if (answer.startsWith('+OK')) upgrade();
          }
        });
      });
    expect((await probe(await pop('+OK Begin TLS'), 'pop3')).outcome).toBe('ok');
    const no = await probe(await pop('-ERR TLS is switched off here'), 'pop3');
    expect(no.outcome).toBe('starttls-refused');
    expect(no.cause).toContain('-ERR TLS is switched off here');
  });

  test('LDAP: the StartTLS extended operation; success then TLS, unwillingToPerform refused, protocolError not offered', async () => {
    const ldap = (code: number, text: string) =>
      scripted((s, upgrade) => {
        s.once('data', (d: Buffer) => {
          expect(d.subarray(9).toString()).toBe('1.3.6.1.4.1.1466.20037');
          const diag = Buffer.from(text);
          // ExtendedResponse { resultCode, matchedDN "", diagnosticMessage }
          const op = Buffer.concat([Buffer.from([0x0a, 0x01, code, 0x04, 0x00, 0x04, diag.length]), diag]);
          const msg = Buffer.concat([Buffer.from([0x02, 0x01, 0x01, 0x78, op.length]), op]);
          s.write(Buffer.concat([Buffer.from([0x30, msg.length]), msg]));
          if (code === 0) upgrade();
        });
      });
    expect((await probe(await ldap(0, ''), 'ldap')).outcome).toBe('ok');
    const refused = await probe(await ldap(53, 'TLS already started'), 'ldap');
    expect(refused.outcome).toBe('starttls-refused');
    expect(refused.cause).toContain('53 unwillingToPerform: TLS already started');
    expect((await probe(await ldap(2, 'unsupported extended operation'), 'ldap')).outcome).toBe('starttls-not-offered');
  });

  test('MySQL: CLIENT_SSL in the greeting, the SSLRequest, then TLS; a greeting without it is not offered', async () => {
    const mysql = (ssl: boolean) =>
      scripted((s, upgrade) => {
        const caps = 0x0200 | 0x8000 | (ssl ? 0x0800 : 0);
        const p = Buffer.concat([
          Buffer.from([10]),
          Buffer.from('8.0.36-lab\0'),
          Buffer.from([1, 0, 0, 0]),
          Buffer.alloc(8, 0x61),
          Buffer.from([0, caps & 0xff, caps >> 8, 45, 2, 0]),
          Buffer.alloc(13),
        ]);
        const head = Buffer.alloc(4);
        head.writeUIntLE(p.length, 0, 3);
        s.write(Buffer.concat([head, p]));
        s.once('data', (d: Buffer) => {
          // The SSLRequest: 32 bytes, sequence 1, CLIENT_SSL set.
          if (d.readUIntLE(0, 3) === 32 && d[3] === 1 && (d.readUInt32LE(4) & 0x800) !== 0) upgrade(d.subarray(36));
          else s.destroy();
        });
      });
    const ok = await probe(await mysql(true), 'mysql');
    expect(ok.outcome, ok.cause).toBe('ok');
    const no = await probe(await mysql(false), 'mysql');
    expect(no.outcome).toBe('starttls-not-offered');
    expect(no.cause).toContain('8.0.36-lab');
  });
});

describe('conndx tls --starttls', () => {
  test('JSON: starttlsMs summarised apart from the handshake; refusals tallied with the reply', async () => {
    const ok = await runCliJson([
      'tls',
      `127.0.0.1:${eps['smtp-starttls']!.port}`,
      '--starttls',
      'smtp',
      '--sni',
      'lab.conndx.test',
      '--insecure',
      '-c',
      '3',
    ]);
    expect(ok.code).toBe(0);
    expect(ok.json.outcomes).toEqual({ ok: 3 });
    expect(ok.json.starttlsMs.p50).toBeGreaterThan(0);
    expect(ok.json.tcpConnectMs.p50).toBeGreaterThan(0);
    expect(ok.json.latencyMs.p50).toBeGreaterThan(0);
    const no = await runCliJson(['tls', `127.0.0.1:${eps['smtp-starttls-refused']!.port}`, '--starttls', 'smtp', '-c', '2']);
    expect(no.code).toBe(2);
    expect(no.json.outcomes).toEqual({ 'starttls-refused': 2 });
    expect(no.json.starttlsReplies).toEqual({ '454 4.7.0 TLS not available due to temporary reason': 2 });
  });

  test('an unknown protocol is bad input: one line, exit 3', async () => {
    const r = await runCli(['tls', '127.0.0.1:25', '--starttls', 'gopher']);
    expect(r.code).toBe(3);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(/bad --starttls "gopher": use one of smtp, imap, pop3, postgres, ldap, mysql/);
  });

  test('names: postgresql reads as postgres, case does not matter', () => {
    expect(parseStarttls('PostgreSQL')).toBe('postgres');
    expect(parseStarttls('SMTP')).toBe('smtp');
    expect(parseStarttls('ftp')).toBeNull();
  });
});

describe('conndx diagnose smtp:// postgres://', () => {
  test('the URL schemes name the dialog and its default port; no HTTP request', () => {
    expect(parseDiagnoseTarget('postgres://db.test')).toMatchObject({ host: 'db.test', port: 5432, starttls: 'postgres', path: null });
    expect(parseDiagnoseTarget('postgresql://db.test:6432/app')).toMatchObject({ port: 6432, starttls: 'postgres', path: null });
    expect(parseDiagnoseTarget('smtp://[::1]:2525')).toMatchObject({ host: '::1', family: 6, port: 2525, starttls: 'smtp' });
    expect(parseDiagnoseTarget('imap://mail.test')).toMatchObject({ port: 143, starttls: 'imap' });
    expect(() => parseDiagnoseTarget('gopher://x.test')).toThrow(/only http:\/\/ and https:\/\/ URLs, smtp:\/\//);
  });

  test('smtp:// is healthy through the upgrade; a server without STARTTLS fails in phase starttls, not tls', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'conndx-starttls-'));
    const ca = join(dir, 'ca.pem');
    writeFileSync(ca, pki.ca.cert);
    try {
      const ok = await runCliJson(['diagnose', `smtp://127.0.0.1:${eps['smtp-starttls']!.port}`, '--ca', ca, '--count', '2']);
      expect(ok.code).toBe(0);
      expect(ok.json.plan).toMatchObject({ tls: true, http: false, starttls: 'smtp' });
      expect(ok.json.tls.outcomes).toEqual({ ok: 2 });
      expect(ok.json.tls.starttlsMs.p50).toBeGreaterThan(0);
      const no = await runCliJson(['diagnose', `smtp://127.0.0.1:${eps['smtp-no-starttls']!.port}`, '--ca', ca, '--count', '2']);
      expect(no.code).toBe(1);
      expect(no.json.verdict).toMatchObject({ phase: 'starttls', outcome: 'starttls-not-offered' });
      const pg = await runCliJson(['diagnose', `postgres://127.0.0.1:${eps['postgres-no-ssl']!.port}`, '--ca', ca, '--count', '1']);
      expect(pg.json.verdict).toMatchObject({ phase: 'starttls', outcome: 'starttls-not-offered' });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('checks: starttls in a tls check', () => {
  test('a check with starttls: smtp is OK through the upgrade, CRITICAL when the server does not offer it', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'conndx-starttls-check-'));
    writeFileSync(join(dir, 'ca.pem'), pki.ca.cert);
    const file = join(dir, 'checks.yaml');
    const check = (name: string, ep: string) =>
      `  - name: ${name}\n    tls: 127.0.0.1:${eps[ep]!.port}\n    starttls: smtp\n    sni: lab.conndx.test\n    ca: ca.pem\n    expect: { successRate: 1 }\n`;
    try {
      writeFileSync(file, `checks:\n${check('mail', 'smtp-starttls')}${check('mail-plain', 'smtp-no-starttls')}`);
      const r = await runCli(['check', '--config', file]);
      expect(r.code, r.stdout + r.stderr).toBe(2);
      expect(r.stdout).toMatch(/^mail OK: tls 127\.0\.0\.1:\d+: success 3\/3/m);
      expect(r.stdout).toMatch(/^mail-plain CRITICAL: .*starttls-not-offered/m);
      writeFileSync(
        file,
        `checks:\n  - name: bad\n    tls: 127.0.0.1\n    starttls: smtp\n  - name: worse\n    tls: 127.0.0.1:25\n    starttls: ftp\n`,
      );
      const bad = await runCli(['check', '--config', file]);
      expect(bad.code).toBe(3);
      expect(bad.stderr).toMatch(/with starttls, give the port: e\.g\. 127\.0\.0\.1:587/);
      expect(bad.stderr).toMatch(/bad starttls "ftp": use one of smtp/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
