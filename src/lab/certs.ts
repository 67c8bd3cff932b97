import { webcrypto } from 'node:crypto';
import * as x509 from '@peculiar/x509';

/**
 * Certificates for the TLS lab, made when the lab starts: nothing that can
 * expire is committed. ECDSA P-256 throughout; a root CA signs an
 * intermediate, the intermediate signs the leaves.
 */

export interface KeyPairPem {
  /** PEM certificate. */
  cert: string;
  /** PEM PKCS#8 private key. */
  key: string;
}

export interface LabPki {
  /** The root to trust (`--ca`). */
  ca: KeyPairPem;
  intermediate: KeyPairPem;
  /** Leaves signed by the intermediate, valid for LAB_SERVER_NAME, localhost, 127.0.0.1 and ::1. */
  valid: KeyPairPem;
  /** Expired 30 days ago. */
  expired: KeyPairPem;
  /** Valid from 30 days from now. */
  notYetValid: KeyPairPem;
  /** Valid, but only for LAB_WRONG_NAME. */
  wrongHost: KeyPairPem;
  /** Valid for 7 days from now: under the 14-day warning. */
  expiringSoon: KeyPairPem;
  /** Its own issuer. */
  selfSigned: KeyPairPem;
  /** A client certificate for mTLS, signed by the intermediate. */
  client: KeyPairPem;
  /** A leaf issued straight by a private root the client is not given, with no CA Issuers URL. */
  privateCaLeaf: KeyPairPem;
}

/**
 * Where the intermediate could be fetched (Authority Information Access, CA
 * Issuers), as public CAs write on their leaves. A reserved .test name: never
 * fetched, only read.
 */
export const LAB_CA_ISSUERS_URL = 'http://ca.lab.conndx.test/intermediate.crt';

/** The server name the lab's leaves are valid for (a reserved .test name, RFC 6761). */
export const LAB_SERVER_NAME = 'lab.conndx.test';
export const LAB_WRONG_NAME = 'wrong-host.conndx.test';

const DAY = 86_400_000;
type CryptoKey = webcrypto.CryptoKey;
type CryptoKeyPair = webcrypto.CryptoKeyPair;

const ALG: webcrypto.EcKeyGenParams & webcrypto.EcdsaParams = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' };

const crypto = webcrypto;
x509.cryptoProvider.set(crypto);

async function keyPem(key: CryptoKey): Promise<string> {
  const der = Buffer.from(await crypto.subtle.exportKey('pkcs8', key));
  const b64 = der
    .toString('base64')
    .replace(/(.{64})/g, '$1\n')
    .trimEnd();
  return `-----BEGIN PRIVATE KEY-----\n${b64}\n-----END PRIVATE KEY-----\n`;
}

const genKeys = () => crypto.subtle.generateKey(ALG, true, ['sign', 'verify']) as Promise<CryptoKeyPair>;
const serial = () =>
  Buffer.from(crypto.getRandomValues(new Uint8Array(12)))
    .toString('hex')
    .replace(/^[89a-f]/, '1');

interface Issuer {
  cert: x509.X509Certificate;
  keys: CryptoKeyPair;
}

async function issue(o: {
  cn: string;
  issuer: Issuer;
  ca?: boolean;
  sans?: { dns?: string[]; ip?: string[] };
  notBefore: Date;
  notAfter: Date;
  usage?: 'server' | 'client';
  caIssuers?: string;
}): Promise<Issuer> {
  const keys = await genKeys();
  const ext: x509.Extension[] = [
    new x509.BasicConstraintsExtension(Boolean(o.ca), o.ca ? 0 : undefined, true),
    new x509.KeyUsagesExtension(
      o.ca ? x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign : x509.KeyUsageFlags.digitalSignature,
      true,
    ),
    await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    await x509.AuthorityKeyIdentifierExtension.create(o.issuer.keys.publicKey),
  ];
  if (o.caIssuers) ext.push(new x509.AuthorityInfoAccessExtension({ caIssuers: [new x509.GeneralName('url', o.caIssuers)] }));
  if (!o.ca) {
    ext.push(
      new x509.ExtendedKeyUsageExtension([o.usage === 'client' ? x509.ExtendedKeyUsage.clientAuth : x509.ExtendedKeyUsage.serverAuth]),
    );
  }
  if (o.sans) {
    ext.push(
      new x509.SubjectAlternativeNameExtension([
        ...(o.sans.dns ?? []).map((value) => ({ type: 'dns' as const, value })),
        ...(o.sans.ip ?? []).map((value) => ({ type: 'ip' as const, value })),
      ]),
    );
  }
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: serial(),
    subject: `CN=${o.cn}, O=conndx lab`,
    issuer: o.issuer.cert.subject,
    notBefore: o.notBefore,
    notAfter: o.notAfter,
    signingAlgorithm: ALG,
    publicKey: keys.publicKey,
    signingKey: o.issuer.keys.privateKey,
    extensions: ext,
  });
  return { cert, keys };
}

async function toPem(i: Issuer): Promise<KeyPairPem> {
  return { cert: i.cert.toString('pem') + '\n', key: await keyPem(i.keys.privateKey) };
}

async function selfSigned(
  cn: string,
  notBefore: Date,
  notAfter: Date,
  o: { ca: boolean; sans?: { dns: string[]; ip: string[] } },
): Promise<Issuer> {
  const keys = await genKeys();
  const ext: x509.Extension[] = [
    new x509.BasicConstraintsExtension(o.ca, o.ca ? 1 : undefined, true),
    new x509.KeyUsagesExtension(
      o.ca ? x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign : x509.KeyUsageFlags.digitalSignature,
      true,
    ),
    await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
  ];
  if (o.sans) {
    ext.push(
      new x509.SubjectAlternativeNameExtension([
        ...o.sans.dns.map((value) => ({ type: 'dns' as const, value })),
        ...o.sans.ip.map((value) => ({ type: 'ip' as const, value })),
      ]),
    );
  }
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: serial(),
    name: `CN=${cn}, O=conndx lab`,
    notBefore,
    notAfter,
    signingAlgorithm: ALG,
    keys,
    extensions: ext,
  });
  return { cert, keys };
}

/** Makes the lab's whole PKI. `at` shifts "now" (tests of day arithmetic). */
export async function createLabPki(at: Date = new Date()): Promise<LabPki> {
  const t = at.getTime();
  const d = (days: number) => new Date(t + days * DAY);
  const sans = { dns: [LAB_SERVER_NAME, 'localhost'], ip: ['127.0.0.1', '::1'] };
  const root = await selfSigned('conndx lab root CA', d(-1), d(365), { ca: true });
  const inter = await issue({ cn: 'conndx lab intermediate CA', issuer: root, ca: true, notBefore: d(-1), notAfter: d(180) });
  const leaf = (cn: string, from: number, to: number, s: { dns?: string[]; ip?: string[] } = sans, usage: 'server' | 'client' = 'server') =>
    issue({ cn, issuer: inter, sans: s, notBefore: d(from), notAfter: d(to), usage, caIssuers: LAB_CA_ISSUERS_URL }).then(toPem);
  const privateRoot = await selfSigned('conndx lab private root CA', d(-1), d(365), { ca: true });
  const [valid, expired, notYetValid, wrongHost, expiringSoon, client, self, privateCaLeaf] = await Promise.all([
    leaf(LAB_SERVER_NAME, -1, 90),
    leaf(LAB_SERVER_NAME, -60, -30),
    leaf(LAB_SERVER_NAME, 30, 120),
    leaf(LAB_WRONG_NAME, -1, 90, { dns: [LAB_WRONG_NAME] }),
    leaf(LAB_SERVER_NAME, -1, 7),
    leaf('conndx lab client', -1, 90, { dns: ['client.conndx.test'] }, 'client'),
    selfSigned(LAB_SERVER_NAME, d(-1), d(90), { ca: false, sans }).then(toPem),
    issue({ cn: LAB_SERVER_NAME, issuer: privateRoot, sans, notBefore: d(-1), notAfter: d(90) }).then(toPem),
  ]);
  return {
    ca: await toPem(root),
    intermediate: await toPem(inter),
    valid,
    expired,
    notYetValid,
    wrongHost,
    expiringSoon,
    selfSigned: self,
    client,
    privateCaLeaf,
  };
}

let shared: Promise<LabPki> | undefined;

/** One PKI per process, made on first use (lab endpoints share it). */
export function labPki(): Promise<LabPki> {
  shared ??= createLabPki();
  return shared;
}
