import { afterEach, describe, expect, test } from 'vitest';
import type { LabEndpoint } from '../../src/lab/types.js';
import { X509Certificate } from 'node:crypto';
import * as net from 'node:net';
import * as tls from 'node:tls';
import { createLabPki } from '../../src/lab/certs.js';
import { alertRecord, createAlertEndpoint, decodeSni, onClientHello, SLOW_HANDSHAKE_MS, TLS_LAB } from '../../src/lab/tls.js';
import { TLS_ALERTS } from '../../src/core/tls.js';
import { probeOnce, startTls } from '../helpers/tls-lab.js';

const open: LabEndpoint[] = [];
afterEach(async () => {
  await Promise.all(open.splice(0).map((e) => e.close()));
});
async function start(name: string) {
  const ep = await startTls(name);
  open.push(ep);
  return ep;
}

describe('every TLS lab endpoint yields its contract outcome', () => {
  for (const name of Object.keys(TLS_LAB)) {
    test(name, async () => {
      const ep = await start(name);
      const o: Record<string, unknown> = { timeoutMs: name === 'tls-stall-after-hello' ? 500 : 2000 };
      if (ep.info?.alpn) o.alpn = ep.info.alpn;
      const a = await probeOnce(ep, o);
      expect(a.outcome, a.cause).toBe(ep.expect);
    });
  }
});

describe('the raw alert endpoint walks every alert of the table', () => {
  test('SNI alert-N picks alert N; each comes back as alert:<name>', async () => {
    const ep = await start('tls-alert');
    for (const row of TLS_ALERTS) {
      const a = await probeOnce(ep, {}, `alert-${row.code}.lab.conndx.test`);
      if (row.unreadByNode) {
        // Node's OpenSSL does not know these numbers and drops the connection.
        expect(a.outcome, `alert ${row.code}`).toBe('closed');
        continue;
      }
      if (row.code === 0) {
        // OpenSSL reads a close_notify during the handshake as the end of the
        // stream (Node: 'end', then "socket disconnected"), the same as a bare
        // FIN: conndx can only report it as closed.
        expect(a.outcome).toBe('closed');
        continue;
      }
      expect(a.outcome, `alert ${row.code}`).toBe(`alert:${row.name}`);
      expect(a.phase).toBe('tls');
      expect(a.cause).toContain(`alert ${row.code}`);
      expect(a.timings?.tcpConnectMs).toBeGreaterThan(0);
    }
  });
  test('without an alert-N SNI it sends its own description', async () => {
    const ep = await startTls(createAlertEndpoint(112));
    open.push(ep);
    expect(ep.expect).toBe('alert:unrecognized_name');
    expect((await probeOnce(ep, {}, 'lab.conndx.test')).outcome).toBe('alert:unrecognized_name');
  });
});

describe('decodeSni', () => {
  test('reads the server name of a real ClientHello and never throws on a cut one', async () => {
    const got = new Promise<Buffer>((resolve) => {
      const srv = net.createServer((s) =>
        onClientHello(s, (rec) => {
          resolve(rec);
          s.destroy();
          srv.close();
        }),
      );
      srv.listen(0, '127.0.0.1', () => {
        const c = tls.connect({ host: '127.0.0.1', port: (srv.address() as net.AddressInfo).port, servername: 'alert-70.lab.conndx.test' });
        c.on('error', () => {});
      });
    });
    const rec = await got;
    expect(decodeSni(rec)).toBe('alert-70.lab.conndx.test');
    for (let n = 0; n < rec.length; n++) expect(() => decodeSni(rec.subarray(0, n))).not.toThrow();
    expect(decodeSni(rec.subarray(0, 60))).toBeNull();
  });
  test('alertRecord is the 7-byte plaintext fatal alert', () => {
    expect([...alertRecord(70)]).toEqual([21, 3, 3, 0, 2, 2, 70]);
  });
});

describe('endpoint facts', () => {
  test('tls-1.2-only negotiates TLS 1.2 with an ECDHE group', async () => {
    const a = await probeOnce(await start('tls-1.2-only'));
    expect(a.outcome).toBe('ok');
    expect(a.facts?.negotiated).toMatchObject({ version: 'TLSv1.2', group: 'X25519', cipher: 'TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256' });
  });
  test('tls-client-cert-required is ok with the lab client certificate', async () => {
    const ep = await start('tls-client-cert-required');
    const a = await probeOnce(ep, { cert: ep.info!.clientCert as string, key: ep.info!.clientKey as string });
    expect(a.outcome, a.cause).toBe('ok');
  });
  test("tls-slow-handshake: the handshake time includes the server's delay, the TCP connect does not", async () => {
    const a = await probeOnce(await start('tls-slow-handshake'));
    expect(a.outcome).toBe('ok');
    // The endpoint holds each connection from accept; the probe's clock starts at the ClientHello,
    // which (server and client sharing this test's event loop) can follow the accept by a few tens of ms.
    expect(a.ms!).toBeGreaterThanOrEqual(SLOW_HANDSHAKE_MS - 50);
    expect(a.ms!).toBeLessThan(SLOW_HANDSHAKE_MS + 1500);
    expect(a.timings!.tcpConnectMs!).toBeLessThan(SLOW_HANDSHAKE_MS / 2);
  });
  test('tls-missing-intermediate: the client saw one certificate', async () => {
    const a = await probeOnce(await start('tls-missing-intermediate'));
    expect(a.facts?.certificate).toMatchObject({ chainLength: 1, selfSigned: false });
  });
  test('tls-self-signed: selfSigned, chain of one', async () => {
    const a = await probeOnce(await start('tls-self-signed'));
    expect(a.facts?.certificate).toMatchObject({ chainLength: 1, selfSigned: true });
    expect(a.cause).toMatch(/DEPTH_ZERO_SELF_SIGNED_CERT/);
  });
  test('tls-expiring-soon: ok, 6 or 7 days left', async () => {
    const a = await probeOnce(await start('tls-expiring-soon'));
    expect(a.outcome).toBe('ok');
    const days = (a.facts?.certificate as { daysLeft: number }).daysLeft;
    expect(days === 6 || days === 7).toBe(true);
  });
  test('tls-ok answers over IPv6 loopback too', async (t) => {
    let ep: LabEndpoint;
    try {
      ep = await startTls('tls-ok', '::1');
    } catch {
      t.skip();
      return;
    }
    open.push(ep);
    const a = await probeOnce(ep, { family: 6 });
    expect(a.outcome, a.cause).toBe('ok');
  });
});

describe('lab certificates', () => {
  test('made now, with the validity each endpoint needs, and chained root → intermediate → leaf', async () => {
    const pki = await createLabPki();
    const now = Date.now();
    const x = (pem: string) => new X509Certificate(pem);
    const root = x(pki.ca.cert);
    const inter = x(pki.intermediate.cert);
    expect(inter.verify(root.publicKey)).toBe(true);
    for (const leaf of [pki.valid, pki.expired, pki.notYetValid, pki.wrongHost, pki.expiringSoon, pki.client]) {
      expect(x(leaf.cert).verify(inter.publicKey)).toBe(true);
    }
    expect(new Date(x(pki.expired.cert).validTo).getTime()).toBeLessThan(now);
    expect(new Date(x(pki.notYetValid.cert).validFrom).getTime()).toBeGreaterThan(now);
    expect(new Date(x(pki.valid.cert).validTo).getTime()).toBeGreaterThan(now + 80 * 86_400_000);
    expect(x(pki.valid.cert).checkHost('lab.conndx.test')).toBe('lab.conndx.test');
    expect(x(pki.wrongHost.cert).checkHost('lab.conndx.test')).toBeUndefined();
    expect(x(pki.valid.cert).publicKey.asymmetricKeyDetails?.namedCurve).toBe('prime256v1');
    const self = x(pki.selfSigned.cert);
    expect(self.subject).toBe(self.issuer);
    expect(self.verify(self.publicKey)).toBe(true);
  });
});
