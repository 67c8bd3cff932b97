import { X509Certificate } from 'node:crypto';
import { checkServerIdentity, rootCertificates, type DetailedPeerCertificate, type PeerCertificate } from 'node:tls';
import type { ChainShape } from './classify-tls.js';

/** The contract's `certificate` object: the leaf as the client saw it, and the chain's shape. */
export interface CertificateFacts {
  subject: string;
  issuer: string;
  /** UTC ISO 8601. */
  notBefore: string;
  notAfter: string;
  /** Whole days until notAfter (negative once expired). */
  daysLeft: number;
  /** Subject alternative names as OpenSSL prints them: "DNS:example.com", "IP:10.0.0.1". */
  sans: string[];
  selfSigned: boolean;
  /** Certificates linked from the leaf up: those the server sent plus a trusted root found locally. */
  chainLength: number;
  ocspStapled: boolean;
  /** The leaf's public key: "EC P-256", "RSA 2048", "Ed25519" (null when Node cannot read it). */
  key: string | null;
  /** SHA-256 fingerprint of the leaf, as OpenSSL prints it (AA:BB:…), to compare with `openssl x509 -fingerprint -sha256`. */
  fingerprint256: string;
  /** Every certificate from the leaf up, the leaf first: those the server sent, then any the client's trust store supplied. */
  chain: ChainCertificate[];
}

/** One certificate of `certificate.chain`. */
export interface ChainCertificate {
  subject: string;
  issuer: string;
  /** UTC ISO 8601. */
  notAfter: string;
  daysLeft: number;
  /** "EC P-256", "RSA 2048", "Ed25519" (null when Node cannot read it). */
  key: string | null;
  fingerprint256: string;
  /**
   * `sent`: in the server's Certificate message; `trust-store`: not sent but
   * found in the client's trust store (--ca, or the default roots) to finish
   * the chain. A certificate the server sent that is also in the trust store,
   * past a certificate that is not self-signed, reads `trust-store`: the peer
   * chain Node gives cannot tell the two apart.
   */
  source: 'sent' | 'trust-store';
}

/** Days under which a certificate's expiry is worth a warning. */
export const CERT_WARN_DAYS = 14;
const DAY_MS = 86_400_000;

type Dn = PeerCertificate['subject'];

/** "CN=api.example.com, O=Example" from Node's subject object (multi-valued attributes kept). */
export function formatDn(dn: Dn | undefined): string {
  if (!dn) return '';
  const parts: string[] = [];
  for (const [k, v] of Object.entries(dn as unknown as Record<string, string | string[]>)) {
    for (const x of Array.isArray(v) ? v : [v]) parts.push(`${k}=${x}`);
  }
  return parts.join(', ');
}

/** Node's "DNS:a, IP Address:1.2.3.4" → ["DNS:a", "IP:1.2.3.4"]. */
export function parseSans(text: string | undefined): string[] {
  if (!text) return [];
  const out: string[] = [];
  // Values may be quoted JSON strings when they contain separators (Node 17+).
  const re = /([A-Za-z ]+):("(?:[^"\\]|\\.)*"|[^,]*)(?:,\s*|$)/g;
  let m: RegExpExecArray | null;
  while ((m = re.exec(text)) !== null && m[0] !== '') {
    const kind = m[1]!.trim() === 'IP Address' ? 'IP' : m[1]!.trim();
    const raw = (m[2]!.startsWith('"') ? (JSON.parse(m[2]!) as string) : m[2]!).trim();
    out.push(`${kind}:${kind === 'IP' && raw.includes(':') ? compressIpv6(raw) : raw}`);
  }
  return out;
}

/** OpenSSL prints IPv6 SANs uncompressed (0:0:0:0:0:0:0:1): write them as people do (::1). */
function compressIpv6(text: string): string {
  try {
    return new URL(`http://[${text}]/`).hostname.slice(1, -1);
  } catch {
    return text;
  }
}

function isoDate(text: string): string {
  const d = new Date(text);
  return Number.isNaN(d.getTime()) ? text : d.toISOString();
}

export function daysLeft(notAfterIso: string, nowMs: number = Date.now()): number {
  const t = new Date(notAfterIso).getTime();
  if (Number.isNaN(t)) return NaN;
  const days = (t - nowMs) / DAY_MS;
  // Whole days left; once expired, whole days since (at least 1), so "expired 30 days ago" reads as written.
  return days >= 0 ? Math.floor(days) : Math.min(-1, Math.trunc(days));
}

interface Static {
  facts: Omit<CertificateFacts, 'daysLeft' | 'ocspStapled' | 'chain'> & { chain: Omit<ChainCertificate, 'daysLeft'>[] };
  shape: ChainShape;
  /** The leaf as Node reads it (for the name check). */
  leaf: PeerCertificate;
  /** Result of the name check per name asked: the mismatch in words, or null when the name matches. */
  names: Map<string, string | null>;
}

// The trust store is part of the cache key: it decides the chain's `source`.
const trustIds = new WeakMap<object, number>();
let trustCount = 0;
function trustId(f: object | undefined): number {
  if (!f) return 0;
  let id = trustIds.get(f);
  if (id === undefined) {
    id = ++trustCount;
    trustIds.set(f, id);
  }
  return id;
}

/** A trust check for `certificate.chain`: the given CA PEMs, or Node's default roots; parsed once, when first asked. */
export function trustedBy(ca: string | string[] | undefined): (fingerprint256: string) => boolean {
  let set: Set<string> | undefined;
  return (fp) => {
    if (!set) {
      set = new Set();
      const pems = ca === undefined ? rootCertificates : (Array.isArray(ca) ? ca : [ca]).flatMap((t) => t.match(PEM_CERT) ?? []);
      for (const pem of pems) {
        try {
          set.add(new X509Certificate(pem).fingerprint256);
        } catch {
          // Not a certificate: it trusts nothing.
        }
      }
    }
    return set.has(fp);
  };
}
const PEM_CERT = /-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g;

// Handshakes against one server see one chain: parse it once, not per attempt.
const cache = new Map<string, Static>();
const CACHE_MAX = 256;

/** Walks getPeerCertificate(true) from the leaf up, each certificate once. */
export function walkChain(leaf: DetailedPeerCertificate): DetailedPeerCertificate[] {
  const chain: DetailedPeerCertificate[] = [];
  const seen = new Set<string>();
  let c: DetailedPeerCertificate | undefined = leaf;
  while (c && c.raw && !seen.has(c.fingerprint256)) {
    seen.add(c.fingerprint256);
    chain.push(c);
    c = c.issuerCertificate;
  }
  return chain;
}

/** The leaf parsed once per chain walk, for the facts Node's PeerCertificate lacks; null when it does not parse. */
function parseLeaf(raw: Buffer): X509Certificate | null {
  try {
    return new X509Certificate(raw);
  } catch {
    return null;
  }
}

function selfSigned(x: X509Certificate | null): boolean {
  if (!x) return false;
  try {
    // Not checkIssued(): OpenSSL's X509_check_issued also wants keyCertSign, which a self-signed leaf lacks.
    return x.subject === x.issuer && x.verify(x.publicKey);
  } catch {
    return false;
  }
}

/** Where the facts come from: the leaf (cheap, every handshake) and the chain (dear, only when not seen before). */
export interface PeerSource {
  /** getPeerCertificate(false): the leaf alone, about 50 µs of CPU. */
  leaf(): PeerCertificate | undefined;
  /** getPeerCertificate(true): the whole chain, linked through the trust store, ten times dearer. */
  chain(): DetailedPeerCertificate | undefined;
  /** The verification result; part of the cache key, since the same leaf may come with another chain. */
  authCode: string | null;
  /** Whether a certificate (by SHA-256 fingerprint) is in the client's trust store; the chain's `source` comes from it. */
  trusted?: (fingerprint256: string) => boolean;
}

/**
 * Certificate facts from the peer chain, available whether or not the chain
 * verified. Returns null when the server sent no certificate. A chain is
 * walked once per (leaf, verification result) and then served from a cache:
 * at hundreds of handshakes per second the walk would cost more than the
 * handshake itself. `hostnameError(name)` checks the leaf against a name
 * (tls.checkServerIdentity), once per name.
 */
export function certificateFacts(
  src: PeerSource,
  o: { ocspStapled: boolean; nowMs?: number },
): { facts: CertificateFacts; shape: ChainShape; hostnameError(name: string): string | null } | null {
  const leaf = src.leaf();
  if (!leaf || !leaf.raw || Object.keys(leaf).length === 0) return null;
  const key = `${leaf.fingerprint256}/${src.authCode ?? ''}/${trustId(src.trusted)}`;
  let s = cache.get(key);
  if (!s) {
    const x509 = parseLeaf(leaf.raw);
    const chain = walkChain(src.chain() ?? (leaf as DetailedPeerCertificate));
    const subject = formatDn(leaf.subject);
    const issuer = formatDn(leaf.issuer);
    const notAfter = isoDate(leaf.valid_to);
    s = {
      facts: {
        subject,
        issuer,
        notBefore: isoDate(leaf.valid_from),
        notAfter,
        sans: parseSans(leaf.subjectaltname),
        selfSigned: selfSigned(x509),
        chainLength: chain.length,
        key: keyOf(x509),
        fingerprint256: leaf.fingerprint256,
        chain: chainFacts(chain, x509, src.trusted),
      },
      shape: { leafSelfIssued: subject === issuer, chainLength: chain.length, caIssuers: hasCaIssuers(leaf), issuer },
      leaf,
      names: new Map(),
    };
    if (cache.size >= CACHE_MAX) cache.delete(cache.keys().next().value!);
    cache.set(key, s);
  }
  const st = s;
  return {
    facts: {
      subject: st.facts.subject,
      issuer: st.facts.issuer,
      notBefore: st.facts.notBefore,
      notAfter: st.facts.notAfter,
      daysLeft: daysLeft(st.facts.notAfter, o.nowMs),
      sans: st.facts.sans,
      selfSigned: st.facts.selfSigned,
      chainLength: st.facts.chainLength,
      ocspStapled: o.ocspStapled,
      key: st.facts.key,
      fingerprint256: st.facts.fingerprint256,
      chain: st.facts.chain.map((c) => ({ ...c, daysLeft: daysLeft(c.notAfter, o.nowMs) })),
    },
    shape: st.shape,
    hostnameError(name) {
      let r = st.names.get(name);
      if (r === undefined) {
        const err = checkServerIdentity(name, st.leaf) as (Error & { reason?: string }) | undefined;
        r = err ? `ERR_TLS_CERT_ALTNAME_INVALID: ${err.reason ?? err.message}` : null;
        if (st.names.size < 64) st.names.set(name, r);
      }
      return r;
    },
  };
}

/**
 * The walked chain as `certificate.chain`. Node links the certificates the
 * server sent first, and only past the last of them that is not self-signed
 * asks the trust store for issuers: so from the first trusted certificate
 * that follows one that is not self-signed, the rest came from the store.
 */
function chainFacts(
  chain: DetailedPeerCertificate[],
  leafX509: X509Certificate | null,
  trusted: ((fp: string) => boolean) | undefined,
): Omit<ChainCertificate, 'daysLeft'>[] {
  let fromStore = false;
  return chain.map((c, i) => {
    const x = i === 0 ? leafX509 : parseLeaf(c.raw);
    if (i > 0 && !fromStore && trusted?.(c.fingerprint256) && !selfIssued(chain[i - 1]!)) fromStore = true;
    return {
      subject: formatDn(c.subject),
      issuer: formatDn(c.issuer),
      notAfter: isoDate(c.valid_to),
      key: keyOf(x),
      fingerprint256: c.fingerprint256,
      source: fromStore ? 'trust-store' : 'sent',
    };
  });
}

const selfIssued = (c: PeerCertificate) => formatDn(c.subject) === formatDn(c.issuer);

/** Whether the leaf carries an Authority Information Access "CA Issuers" URL. */
function hasCaIssuers(leaf: PeerCertificate): boolean {
  const ia = (leaf as PeerCertificate & { infoAccess?: Record<string, string[] | undefined> }).infoAccess;
  return Boolean(ia && Object.entries(ia).some(([k, v]) => /^CA Issuers/i.test(k) && v && v.length > 0));
}

const CURVES: Record<string, string> = { prime256v1: 'P-256', secp384r1: 'P-384', secp521r1: 'P-521' };

/** The leaf's key type and size, once per chain walk (cached with it). */
function keyOf(x: X509Certificate | null): string | null {
  if (!x) return null;
  try {
    const k = x.publicKey;
    const d = k.asymmetricKeyDetails ?? {};
    switch (k.asymmetricKeyType) {
      case 'rsa':
      case 'rsa-pss':
        return `RSA ${d.modulusLength ?? '?'}`;
      case 'ec':
        return `EC ${CURVES[d.namedCurve ?? ''] ?? d.namedCurve ?? '?'}`;
      case 'ed25519':
        return 'Ed25519';
      case 'ed448':
        return 'Ed448';
      default:
        return k.asymmetricKeyType ?? null;
    }
  } catch {
    return null;
  }
}
