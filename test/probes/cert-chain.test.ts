// certificate.chain: every certificate from the leaf up, each with its subject, issuer, days left,
// key and SHA-256 fingerprint, and whether the server sent it or the trust store supplied it.
import { X509Certificate } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { labPki, type LabPki } from '../../src/lab/certs.js';
import type { LabEndpoint } from '../../src/lab/types.js';
import type { CertificateFacts } from '../../src/probes/cert.js';
import { probeOnce, startTls } from '../helpers/tls-lab.js';
import { runCli } from '../helpers/cli.js';
import { unwrapFingerprints } from '../helpers/unwrap.js';

let pki: LabPki;
const eps: Record<string, LabEndpoint> = {};
beforeAll(async () => {
  pki = await labPki();
  for (const n of ['tls-ok', 'tls-missing-intermediate', 'tls-self-signed', 'tls-expiring-soon']) eps[n] = await startTls(n);
});
afterAll(async () => {
  await Promise.all(Object.values(eps).map((e) => e.close()));
});

const fp = (pem: string) => new X509Certificate(pem).fingerprint256;
const cert = async (name: string, insecure = false) => {
  const a = await probeOnce(eps[name]!, { insecure });
  return a.facts!.certificate as CertificateFacts;
};

describe('certificate.chain', () => {
  test('tls-ok: leaf and intermediate as sent, the root from the trust store (--ca), each with its own facts', async () => {
    const c = await cert('tls-ok');
    expect(c.chain.map((x) => [x.fingerprint256, x.source])).toEqual([
      [fp(pki.valid.cert), 'sent'],
      [fp(pki.intermediate.cert), 'sent'],
      [fp(pki.ca.cert), 'trust-store'],
    ]);
    const [leaf, mid, root] = c.chain;
    expect(leaf!.subject).toBe(c.subject);
    expect(leaf!.issuer).toBe(mid!.subject);
    expect(mid!.issuer).toBe(root!.subject);
    expect(root!.issuer).toBe(root!.subject);
    for (const [x, pem] of [
      [leaf!, pki.valid.cert],
      [mid!, pki.intermediate.cert],
      [root!, pki.ca.cert],
    ] as const) {
      const want = new X509Certificate(pem);
      expect(x.key).toBe('EC P-256');
      expect(x.notAfter).toBe(new Date(want.validTo).toISOString());
      expect(x.daysLeft).toBe(Math.floor((new Date(want.validTo).getTime() - Date.now()) / 86_400_000));
    }
    // The leaf's entry agrees with the leaf facts that were there before.
    expect(leaf!.fingerprint256).toBe(c.fingerprint256);
    expect(leaf!.daysLeft).toBe(c.daysLeft);
    expect(c.chainLength).toBe(3);
  });

  test('a leaf sent alone: one entry (the issuer was neither sent nor trusted)', async () => {
    const c = await cert('tls-missing-intermediate', true);
    expect(c.chain.map((x) => [x.fingerprint256, x.source])).toEqual([[fp(pki.valid.cert), 'sent']]);
  });

  test('a self-signed leaf: one entry, its own issuer', async () => {
    const c = await cert('tls-self-signed', true);
    expect(c.chain).toHaveLength(1);
    expect(c.chain[0]!.issuer).toBe(c.chain[0]!.subject);
    expect(c.chain[0]!.fingerprint256).toBe(fp(pki.selfSigned.cert));
  });

  test('days left per certificate: the expiring leaf is 7 days, its intermediate much longer', async () => {
    const c = await cert('tls-expiring-soon');
    expect(c.chain[0]!.daysLeft).toBeLessThanOrEqual(7);
    expect(c.chain[0]!.daysLeft).toBeGreaterThanOrEqual(6);
    expect(c.chain[1]!.daysLeft).toBeGreaterThan(30);
  });

  test('conndx tls prints the chain, leaf first, in text', async () => {
    const ep = eps['tls-ok']!;
    const r = await runCli(['tls', `127.0.0.1:${ep.port}`, '--sni', 'lab.conndx.test', '--insecure', '-c', '1']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^ {2}chain, leaf first:$/m);
    expect(r.stdout).toContain(`    0 CN=lab.conndx.test, O=conndx lab  (sent)`);
    expect(r.stdout).toContain(`    1 CN=conndx lab intermediate CA, O=conndx lab  (sent)`);
    expect(unwrapFingerprints(r.stdout)).toContain(`      sha256 ${fp(pki.intermediate.cert)}`);
    expect(r.stdout).toMatch(/issuer CN=conndx lab root CA, O=conndx lab, \d+ days left, key EC P-256/);
  });
});
