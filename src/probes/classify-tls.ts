import { localErrorCause } from './local-errors.js';
import type { TlsOutcome } from '../core/types.js';
import { alertByOpensslCode, alertName } from '../core/tls.js';

export { alertName, TLS_ALERTS, type AlertRow } from '../core/tls.js';

export interface TlsErrorFacts {
  /** The TLS socket emitted 'end' (a FIN arrived) before the error. */
  endFirst: boolean;
}

export interface TlsClassification {
  outcome: TlsOutcome;
  cause: string;
  local: boolean;
}

function codeOf(e: unknown): string | undefined {
  const c = (e as { code?: unknown } | undefined)?.code;
  return typeof c === 'string' ? c : undefined;
}

function messageOf(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

/**
 * The alert the server sent, when this error reports one. OpenSSL writes
 * "SSL alert number N" only for an alert it received (ssl/record/rec_layer_s3.c);
 * an alert OpenSSL itself sends is reported by its reason ("wrong version
 * number", "certificate verify failed"), which is not the server's word.
 */
export function receivedAlert(e: unknown): number | null {
  const m = /SSL alert number (\d+)/.exec(messageOf(e));
  if (m) return Number(m[1]);
  return alertByOpensslCode(codeOf(e) ?? '');
}

/** A readable cause from an OpenSSL error: its reason without the source-file noise. */
export function opensslReason(e: unknown): string {
  const reason = (e as { reason?: unknown }).reason;
  const code = codeOf(e);
  if (typeof reason === 'string' && reason) return code ? `${code}: ${reason}` : reason;
  const first = messageOf(e).trim().split('\n')[0] ?? '';
  const m = /:error:[0-9A-F]+:[^:]*:[^:]*:([^:]+)/.exec(first);
  const text = m ? m[1]! : first;
  return code ? `${code}: ${text}` : text;
}

interface Row {
  test: (code: string, e: unknown, f: TlsErrorFacts) => boolean;
  outcome: (e: unknown, f: TlsErrorFacts) => TlsOutcome;
  cause: (code: string, e: unknown) => string;
  local?: boolean;
}

const fixed = (o: TlsOutcome) => () => o;

/** One row per case, first match wins; local limits come first (never blame the target). */
/** OpenSSL's words for a reply that is not a TLS record: a version byte that is no TLS version, a length no record has. */
const NOT_TLS_CODES = new Set([
  'ERR_SSL_WRONG_VERSION_NUMBER',
  'ERR_SSL_PACKET_LENGTH_TOO_LONG',
  'ERR_SSL_UNKNOWN_PROTOCOL',
  'ERR_SSL_HTTP_REQUEST',
  'ERR_SSL_RECORD_LAYER_FAILURE',
]);

const ROWS: Row[] = [
  { test: (_c, e) => localErrorCause(e) !== null, outcome: fixed('error'), cause: (_c, e) => localErrorCause(e)!, local: true },
  {
    test: (_c, e) => receivedAlert(e) !== null,
    outcome: (e) => `alert:${alertName(receivedAlert(e)!)}`,
    cause: (_c, e) => `the server sent alert ${receivedAlert(e)} (${alertName(receivedAlert(e)!)})`,
  },
  // Node reports a FIN during the handshake as ECONNRESET "socket disconnected
  // before secure TLS connection was established", after an 'end' event; a
  // real RST gives "read ECONNRESET" with no 'end' before it.
  {
    test: (c, _e, f) => (c === 'ECONNRESET' || c === 'EPIPE') && f.endFirst,
    outcome: fixed('closed'),
    cause: () => 'the server closed the connection (FIN or close_notify) before the handshake completed',
  },
  {
    test: (c) => c === 'ECONNRESET' || c === 'EPIPE',
    outcome: fixed('reset'),
    cause: (c) => `${c}: the server reset the connection (RST) during the handshake`,
  },
  { test: (c) => c === 'ETIMEDOUT', outcome: fixed('timeout'), cause: () => 'ETIMEDOUT: the kernel gave up on the connection' },
  // What came back is no TLS record at all: a plaintext server on a TLS port
  // (the probe then asks what it is: probes/sniff.ts).
  {
    test: (c) => NOT_TLS_CODES.has(c),
    outcome: fixed('not-tls'),
    cause: (_c, e) => `the server did not answer in TLS (${opensslReason(e)})`,
  },
  // Anything else from OpenSSL is this client refusing what the server sent: a
  // protocol violation by the server (not TLS at all, a bad record), not a
  // failure of this machine, which is what `error` names.
  {
    test: (c) => c.startsWith('ERR_SSL_') || c.startsWith('ERR_TLS_'),
    outcome: fixed('protocol-error'),
    cause: (_c, e) => opensslReason(e),
  },
];

/** Maps an error from a TLS handshake to the contract's outcome. */
export function classifyTlsError(e: unknown, f: TlsErrorFacts = { endFirst: false }): TlsClassification {
  const inner = e instanceof AggregateError && e.errors.length ? e.errors[0] : e;
  const code = codeOf(inner) ?? '';
  for (const row of ROWS) {
    if (row.test(code, inner, f)) return { outcome: row.outcome(inner, f), cause: row.cause(code, inner), local: row.local ?? false };
  }
  return { outcome: 'error', cause: code ? `${code}: ${messageOf(inner)}` : messageOf(inner), local: false };
}

/**
 * Certificate verification results (OpenSSL X509_V_ERR_* names as Node
 * gives them in `authorizationError`, plus Node's own host name check)
 * → outcome. Unknown codes are `cert-untrusted` with the code as cause.
 */
export const CERT_ERRORS: Record<string, TlsOutcome> = {
  CERT_HAS_EXPIRED: 'cert-expired',
  CERT_NOT_YET_VALID: 'cert-not-yet-valid',
  ERR_TLS_CERT_ALTNAME_INVALID: 'cert-hostname-mismatch',
  HOSTNAME_MISMATCH: 'cert-hostname-mismatch',
  IP_ADDRESS_MISMATCH: 'cert-hostname-mismatch',
  UNABLE_TO_VERIFY_LEAF_SIGNATURE: 'cert-chain-incomplete',
  DEPTH_ZERO_SELF_SIGNED_CERT: 'cert-untrusted',
  SELF_SIGNED_CERT_IN_CHAIN: 'cert-untrusted',
  UNABLE_TO_GET_ISSUER_CERT_LOCALLY: 'cert-untrusted',
  UNABLE_TO_GET_ISSUER_CERT: 'cert-untrusted',
  CERT_UNTRUSTED: 'cert-untrusted',
  CERT_REJECTED: 'cert-untrusted',
  CERT_SIGNATURE_FAILURE: 'cert-untrusted',
  CERT_REVOKED: 'cert-untrusted',
  INVALID_CA: 'cert-untrusted',
  INVALID_PURPOSE: 'cert-untrusted',
  PATH_LENGTH_EXCEEDED: 'cert-untrusted',
  CERT_CHAIN_TOO_LONG: 'cert-untrusted',
};

/** What each certificate code means, for causes. */
const CERT_WORDS: Record<string, string> = {
  CERT_HAS_EXPIRED: 'the certificate has expired',
  CERT_NOT_YET_VALID: 'the certificate is not yet valid',
  ERR_TLS_CERT_ALTNAME_INVALID: 'the certificate is not valid for this host name',
  UNABLE_TO_VERIFY_LEAF_SIGNATURE: 'the server sent its certificate without the intermediate that issued it',
  DEPTH_ZERO_SELF_SIGNED_CERT: 'the certificate is self-signed',
  SELF_SIGNED_CERT_IN_CHAIN: 'the chain ends in a root that is not trusted',
  UNABLE_TO_GET_ISSUER_CERT_LOCALLY: 'the chain leads to a CA that is not trusted',
};

export interface ChainShape {
  /** The leaf names itself as issuer (subject = issuer). */
  leafSelfIssued: boolean;
  /** How many certificates the client could link from the leaf up (the leaf included). */
  chainLength: number;
  /**
   * The leaf names where its issuer's certificate can be fetched (Authority
   * Information Access, CA Issuers): what public CAs put on every leaf. A
   * leaf alone without it more likely comes from a private CA.
   */
  caIssuers?: boolean;
  /** The leaf's issuer, as a distinguished name, for the cause. */
  issuer?: string;
}

/**
 * The outcome of a certificate verification error. UNABLE_TO_VERIFY_LEAF_SIGNATURE
 * means the leaf's issuer is neither among the certificates sent nor trusted:
 * when the leaf is not self-issued and nothing above it was sent, the server
 * left out the intermediate (`cert-chain-incomplete`); otherwise the issuer is
 * simply unknown (`cert-untrusted`).
 */
export function classifyCertError(code: string, shape?: ChainShape): { outcome: TlsOutcome; cause: string } {
  let outcome = CERT_ERRORS[code] ?? 'cert-untrusted';
  if (outcome === 'cert-chain-incomplete' && shape && (shape.leafSelfIssued || shape.chainLength > 1)) outcome = 'cert-untrusted';
  // The wire alone cannot tell a missing intermediate from a private CA this
  // client was not given: only a leaf that names its issuer's URL (AIA) says
  // a public-style chain is incomplete. Otherwise: untrusted, both causes named.
  if (outcome === 'cert-chain-incomplete' && shape && shape.caIssuers === false) {
    const who = shape.issuer ? `"${shape.issuer}"` : "the leaf's issuer";
    return {
      outcome: 'cert-untrusted',
      cause: `${code}: ${who} is not trusted here and the server sent no certificate for it: a private CA this client lacks (pass it with --ca), or a missing intermediate (the leaf names no CA Issuers URL to tell)`,
    };
  }
  const words =
    outcome === 'cert-untrusted' && code === 'UNABLE_TO_VERIFY_LEAF_SIGNATURE' ? "the leaf's issuer is not trusted" : CERT_WORDS[code];
  return { outcome, cause: words ? `${code}: ${words}` : code };
}
