import * as net from 'node:net';
import * as tls from 'node:tls';
import { afterEach, describe, expect, test } from 'vitest';
import { labPki } from '../../src/lab/certs.js';
import type { LabEndpoint } from '../../src/lab/types.js';
import { certificateFacts, daysLeft, formatDn, parseSans } from '../../src/probes/cert.js';
import { createTlsProbe, probeTlsVersions } from '../../src/probes/tls.js';
import { probeOnce, startTls, targetOf } from '../helpers/tls-lab.js';

const open: LabEndpoint[] = [];
const closers: (() => Promise<void>)[] = [];
afterEach(async () => {
  await Promise.all(open.splice(0).map((e) => e.close()));
  await Promise.all(closers.splice(0).map((c) => c()));
});
async function start(name: string) {
  const ep = await startTls(name);
  open.push(ep);
  return ep;
}
const signal = () => new AbortController().signal;

describe('negotiated facts', () => {
  test('TLS 1.3 with its cipher, group and ALPN', async () => {
    const a = await probeOnce(await start('tls-ok'), { alpn: ['h2', 'http/1.1'] });
    expect(a.outcome, a.cause).toBe('ok');
    expect(a.phase).toBe('tls');
    expect(a.facts?.negotiated).toEqual({
      version: 'TLSv1.3',
      cipher: expect.stringMatching(/^TLS_(AES|CHACHA20)_/),
      group: 'X25519',
      alpn: 'http/1.1',
      resumed: false,
    });
    expect(a.ms!).toBeGreaterThan(0);
    expect(a.timings?.tcpConnectMs).toBeGreaterThan(0);
    // Building and writing the ClientHello is timed apart, not inside the handshake time.
    expect(a.timings?.clientHelloMs).toBeGreaterThan(0);
  });
  test('no ALPN offered: alpn null', async () => {
    const a = await probeOnce(await start('tls-ok'));
    expect((a.facts?.negotiated as { alpn: unknown }).alpn).toBeNull();
  });
  test("--resume: the second handshake resumes the first one's session", async () => {
    const a = await probeOnce(await start('tls-ok'), { resume: true });
    expect(a.outcome, a.cause).toBe('ok');
    expect((a.facts?.negotiated as { resumed: boolean }).resumed).toBe(true);
    expect(a.tallies).toEqual({ resumption: 'resumed' });
    expect(a.timings?.resumeHandshakeMs).toBeGreaterThan(0);
  });
  test('--resume over TLS 1.2 resumes too', async () => {
    const a = await probeOnce(await start('tls-1.2-only'), { resume: true });
    expect(a.facts?.negotiated as { resumed: boolean; version: string }).toMatchObject({ resumed: true, version: 'TLSv1.2' });
  });
  test('min = max = TLSv1.3 against a TLS 1.2-only server: alert:protocol_version', async () => {
    const a = await probeOnce(await start('tls-1.2-only'), { minVersion: 'TLSv1.3', maxVersion: 'TLSv1.3' });
    expect(a.outcome).toBe('alert:protocol_version');
  });
  test('versions: TLS 1.2-only server', async () => {
    const ep = await start('tls-1.2-only');
    expect(await probeTlsVersions(targetOf(ep), { timeoutMs: 2000, ca: ep.info!.ca as string }, signal())).toEqual({
      'TLSv1.2': 'ok',
      'TLSv1.3': 'alert:protocol_version',
    });
  });
  test('versions ignore certificate problems: an expired certificate still shows both versions ok', async () => {
    const ep = await start('tls-expired');
    expect(await probeTlsVersions(targetOf(ep), { timeoutMs: 2000, ca: ep.info!.ca as string }, signal())).toEqual({
      'TLSv1.2': 'ok',
      'TLSv1.3': 'ok',
    });
  });
});

describe('certificates', () => {
  test('facts of a valid chain', async () => {
    const a = await probeOnce(await start('tls-ok'));
    const c = a.facts?.certificate as Record<string, unknown>;
    expect(c).toMatchObject({
      subject: 'CN=lab.conndx.test, O=conndx lab',
      issuer: 'CN=conndx lab intermediate CA, O=conndx lab',
      sans: ['DNS:lab.conndx.test', 'DNS:localhost', 'IP:127.0.0.1', 'IP:::1'],
      selfSigned: false,
      chainLength: 3,
      ocspStapled: false,
    });
    expect(c.daysLeft === 88 || c.daysLeft === 89).toBe(true);
    expect(Object.keys(c)).toEqual([
      'subject',
      'issuer',
      'notBefore',
      'notAfter',
      'daysLeft',
      'sans',
      'selfSigned',
      'chainLength',
      'ocspStapled',
      'key',
      'fingerprint256',
      'chain',
    ]);
  });
  test('facts are reported when verification fails', async () => {
    const a = await probeOnce(await start('tls-expired'));
    expect(a.outcome).toBe('cert-expired');
    expect((a.facts?.certificate as { daysLeft: number }).daysLeft).toBe(-30);
  });
  test('--insecure: ok, the problem kept as a fact', async () => {
    const a = await probeOnce(await start('tls-expired'), { insecure: true });
    expect(a.outcome).toBe('ok');
    expect(a.facts?.certProblem).toMatchObject({ outcome: 'cert-expired', cause: expect.stringMatching(/^CERT_HAS_EXPIRED/) });
  });
  test('without --ca the lab chain is untrusted (default roots only)', async () => {
    const ep = await start('tls-ok');
    const a = await createTlsProbe({ timeoutMs: 2000 })(targetOf(ep), signal());
    expect(a.outcome).toBe('cert-untrusted');
    expect(a.cause).toMatch(/UNABLE_TO_GET_ISSUER_CERT_LOCALLY/);
  });
  test('no SNI: the address itself is checked (the lab leaf has IP SANs, the wrong-host leaf does not)', async () => {
    const ok = await start('tls-ok');
    expect((await probeOnce(ok, {}, '127.0.0.1')).outcome).toBe('ok');
    const wrong = await start('tls-wrong-host');
    const a = await createTlsProbe({ timeoutMs: 2000, ca: wrong.info!.ca as string })(targetOf(wrong, undefined), signal());
    expect(a.outcome).toBe('cert-hostname-mismatch');
  });
  test('the missing intermediate is named even without --ca', async () => {
    const ep = await start('tls-missing-intermediate');
    expect((await createTlsProbe({ timeoutMs: 2000 })(targetOf(ep), signal())).outcome).toBe('cert-chain-incomplete');
  });
  test('an OCSP staple is seen', async () => {
    const pki = await labPki();
    const srv = tls.createServer({ cert: pki.valid.cert + pki.intermediate.cert, key: pki.valid.key }, (s) => s.on('error', () => {}));
    srv.on('OCSPRequest', (_c: Buffer, _i: Buffer, cb: (e: Error | null, r?: Buffer) => void) =>
      cb(null, Buffer.from([0x30, 0x03, 0x0a, 0x01, 0x00])),
    );
    await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
    closers.push(() => new Promise((r) => srv.close(() => r())));
    const port = (srv.address() as net.AddressInfo).port;
    const a = await createTlsProbe({ timeoutMs: 2000, ca: pki.ca.cert })(
      { key: 'x', host: '127.0.0.1', port, serverName: 'lab.conndx.test' },
      signal(),
    );
    expect(a.outcome, a.cause).toBe('ok');
    expect((a.facts?.certificate as { ocspStapled: boolean }).ocspStapled).toBe(true);
  });
});

describe('tcp and timeout outcomes', () => {
  test('a closed port is tcp:refused in phase tcp', async () => {
    const srv = net.createServer();
    await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
    const port = (srv.address() as net.AddressInfo).port;
    await new Promise((r) => srv.close(r));
    const a = await createTlsProbe({ timeoutMs: 1000 })({ key: 'x', host: '127.0.0.1', port }, signal());
    expect(a).toMatchObject({ outcome: 'tcp:refused', phase: 'tcp', ms: null });
  });
  test('a stalled handshake times out at --timeout, not later', async () => {
    const ep = await start('tls-stall-after-hello');
    const t0 = performance.now();
    const a = await probeOnce(ep, { timeoutMs: 300 });
    const took = performance.now() - t0;
    expect(a.outcome).toBe('timeout');
    expect(a.phase).toBe('tls');
    expect(took).toBeGreaterThanOrEqual(290);
    expect(took).toBeLessThan(1300);
  });
});

describe('certificate helpers', () => {
  test('formatDn keeps multi-valued attributes', () => {
    expect(formatDn({ CN: 'a', OU: ['x', 'y'] } as never)).toBe('CN=a, OU=x, OU=y');
  });
  test('parseSans handles quoted values and IPv6', () => {
    expect(parseSans('DNS:a.example, DNS:"b,c.example", IP Address:10.0.0.1, IP Address:2001:DB8:0:0:0:0:0:1')).toEqual([
      'DNS:a.example',
      'DNS:b,c.example',
      'IP:10.0.0.1',
      'IP:2001:db8::1',
    ]);
    expect(parseSans(undefined)).toEqual([]);
  });
  test('daysLeft: whole days left, whole days since once expired', () => {
    const now = Date.parse('2026-01-10T00:00:00Z');
    expect(daysLeft('2026-01-16T23:00:00Z', now)).toBe(6);
    expect(daysLeft('2026-01-10T06:00:00Z', now)).toBe(0);
    expect(daysLeft('2026-01-09T23:00:00Z', now)).toBe(-1);
    expect(daysLeft('2025-12-11T00:00:00Z', now)).toBe(-30);
  });
  test('certificateFacts is null when the server sent no certificate', () => {
    expect(certificateFacts({ leaf: () => ({}) as never, chain: () => undefined, authCode: null }, { ocspStapled: false })).toBeNull();
    expect(certificateFacts({ leaf: () => undefined, chain: () => undefined, authCode: null }, { ocspStapled: false })).toBeNull();
  });
});

describe('timing and post-handshake events', () => {
  // The handshake is timed from the return of tls.connect on a connected
  // socket; that is "ClientHello sent" only while Node writes it in that call.
  test('tls.connect on a connected socket has written the ClientHello when it returns', async () => {
    const srv = net.createServer((c) => {
      c.on('error', () => {});
      c.once('data', () => c.destroy());
    });
    await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
    closers.push(() => new Promise((r) => srv.close(() => r())));
    const sock = net.connect((srv.address() as net.AddressInfo).port, '127.0.0.1');
    await new Promise((r) => sock.once('connect', r));
    const s = tls.connect({ socket: sock, servername: 'lab.conndx.test', rejectUnauthorized: false });
    s.on('error', () => {});
    const written = sock.bytesWritten;
    const queued = Number((sock as unknown as { _handle: { writeQueueSize: number } })._handle.writeQueueSize);
    s.destroy();
    sock.destroy();
    expect(written).toBeGreaterThan(100);
    expect(queued).toBe(0);
  });
  test.each([
    ['a server that asked for no certificate', false],
    ['a server that asked for one (the probe waits for its verdict)', true],
  ])('a reset right after a completed TLS 1.3 handshake leaves the handshake ok: %s', async (_, requestCert) => {
    const pki = await labPki();
    const inner = tls.createServer(
      { cert: pki.valid.cert + pki.intermediate.cert, key: pki.valid.key, requestCert, rejectUnauthorized: false },
      (s) => s.on('error', () => {}),
    );
    inner.on('tlsClientError', () => {});
    let resets = 0;
    // The TCP socket under the TLS one: reset it as soon as the server side completes the handshake.
    const srv = net.createServer((raw) => {
      raw.on('error', () => {});
      inner.once('secureConnection', () => {
        resets++;
        raw.resetAndDestroy();
      });
      inner.emit('connection', raw);
    });
    await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
    closers.push(() => new Promise((r) => srv.close(() => r())));
    const port = (srv.address() as net.AddressInfo).port;
    const a = await createTlsProbe({ timeoutMs: 2000, ca: pki.ca.cert })(
      { key: 'x', host: '127.0.0.1', port, serverName: 'lab.conndx.test' },
      signal(),
    );
    expect(a.outcome, a.cause).toBe('ok');
    // With a CertificateRequest the probe waited past the server's verdict, so the reset came within the attempt.
    if (requestCert) expect(resets).toBe(1);
    for (let i = 0; i < 100 && resets === 0; i++) await new Promise((r) => setTimeout(r, 10));
    expect(resets).toBe(1);
  });
});
