import { localErrorCause } from './local-errors.js';
import type { TlsOutcome } from './types.js';

/**
 * TLS alerts by number: every AlertDescription of RFC 8446 section 6, plus
 * the TLS 1.2-era ones an OpenSSL peer may still send (RFC 5246 section
 * 7.2, RFC 8446 section 6 "reserved"). `openssl` is the code Node gives an
 * error for that alert when the server sent it (OpenSSL reason
 * SSL_AD_REASON_OFFSET + number, ssl/ssl_err.c).
 */
export interface AlertRow {
  code: number;
  /** RFC 8446 name, snake_case. */
  name: string;
  /** Node's `err.code` when this alert arrives from the peer (none for close_notify, which OpenSSL reads as end of stream). */
  openssl?: string;
  /** Not in RFC 8446's list: TLS 1.2 or earlier only. */
  legacy?: true;
}

export const TLS_ALERTS: readonly AlertRow[] = [
  { code: 0, name: 'close_notify' },
  { code: 10, name: 'unexpected_message', openssl: 'ERR_SSL_SSLV3_ALERT_UNEXPECTED_MESSAGE' },
  { code: 20, name: 'bad_record_mac', openssl: 'ERR_SSL_SSLV3_ALERT_BAD_RECORD_MAC' },
  { code: 21, name: 'decryption_failed', openssl: 'ERR_SSL_TLSV1_ALERT_DECRYPTION_FAILED', legacy: true },
  { code: 22, name: 'record_overflow', openssl: 'ERR_SSL_TLSV1_ALERT_RECORD_OVERFLOW' },
  { code: 40, name: 'handshake_failure', openssl: 'ERR_SSL_SSLV3_ALERT_HANDSHAKE_FAILURE' },
  { code: 41, name: 'no_certificate', openssl: 'ERR_SSL_SSLV3_ALERT_NO_CERTIFICATE', legacy: true },
  { code: 42, name: 'bad_certificate', openssl: 'ERR_SSL_SSLV3_ALERT_BAD_CERTIFICATE' },
  { code: 43, name: 'unsupported_certificate', openssl: 'ERR_SSL_SSLV3_ALERT_UNSUPPORTED_CERTIFICATE' },
  { code: 44, name: 'certificate_revoked', openssl: 'ERR_SSL_SSLV3_ALERT_CERTIFICATE_REVOKED' },
  { code: 45, name: 'certificate_expired', openssl: 'ERR_SSL_SSLV3_ALERT_CERTIFICATE_EXPIRED' },
  { code: 46, name: 'certificate_unknown', openssl: 'ERR_SSL_SSLV3_ALERT_CERTIFICATE_UNKNOWN' },
  { code: 47, name: 'illegal_parameter', openssl: 'ERR_SSL_SSLV3_ALERT_ILLEGAL_PARAMETER' },
  { code: 48, name: 'unknown_ca', openssl: 'ERR_SSL_TLSV1_ALERT_UNKNOWN_CA' },
  { code: 49, name: 'access_denied', openssl: 'ERR_SSL_TLSV1_ALERT_ACCESS_DENIED' },
  { code: 50, name: 'decode_error', openssl: 'ERR_SSL_TLSV1_ALERT_DECODE_ERROR' },
  { code: 51, name: 'decrypt_error', openssl: 'ERR_SSL_TLSV1_ALERT_DECRYPT_ERROR' },
  { code: 60, name: 'export_restriction', openssl: 'ERR_SSL_TLSV1_ALERT_EXPORT_RESTRICTION', legacy: true },
  { code: 70, name: 'protocol_version', openssl: 'ERR_SSL_TLSV1_ALERT_PROTOCOL_VERSION' },
  { code: 71, name: 'insufficient_security', openssl: 'ERR_SSL_TLSV1_ALERT_INSUFFICIENT_SECURITY' },
  { code: 80, name: 'internal_error', openssl: 'ERR_SSL_TLSV1_ALERT_INTERNAL_ERROR' },
  { code: 86, name: 'inappropriate_fallback', openssl: 'ERR_SSL_TLSV1_ALERT_INAPPROPRIATE_FALLBACK' },
  { code: 90, name: 'user_canceled', openssl: 'ERR_SSL_TLSV1_ALERT_USER_CANCELLED' },
  { code: 100, name: 'no_renegotiation', openssl: 'ERR_SSL_TLSV1_ALERT_NO_RENEGOTIATION', legacy: true },
  { code: 109, name: 'missing_extension', openssl: 'ERR_SSL_TLSV13_ALERT_MISSING_EXTENSION' },
  { code: 110, name: 'unsupported_extension', openssl: 'ERR_SSL_TLSV1_UNSUPPORTED_EXTENSION' },
  { code: 112, name: 'unrecognized_name', openssl: 'ERR_SSL_TLSV1_UNRECOGNIZED_NAME' },
  { code: 113, name: 'bad_certificate_status_response', openssl: 'ERR_SSL_TLSV1_BAD_CERTIFICATE_STATUS_RESPONSE' },
  { code: 115, name: 'unknown_psk_identity', openssl: 'ERR_SSL_TLSV1_ALERT_UNKNOWN_PSK_IDENTITY' },
  { code: 116, name: 'certificate_required', openssl: 'ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED' },
  { code: 120, name: 'no_application_protocol', openssl: 'ERR_SSL_TLSV1_ALERT_NO_APPLICATION_PROTOCOL' },
];

const BY_CODE = new Map(TLS_ALERTS.map((r) => [r.code, r] as const));
const BY_OPENSSL = new Map(TLS_ALERTS.filter((r) => r.openssl).map((r) => [r.openssl!, r] as const));

/** RFC 8446 name of an alert number; unknown numbers keep theirs (`unknown_255`). */
export function alertName(code: number): string {
  return BY_CODE.get(code)?.name ?? `unknown_${code}`;
}

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
  const row = BY_OPENSSL.get(codeOf(e) ?? '');
  return row ? row.code : null;
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
    outcome: fixed('closed'), cause: () => 'the server closed the connection (FIN or close_notify) before the handshake completed',
  },
  {
    test: (c) => c === 'ECONNRESET' || c === 'EPIPE',
    outcome: fixed('reset'), cause: (c) => `${c}: the server reset the connection (RST) during the handshake`,
  },
  { test: (c) => c === 'ETIMEDOUT', outcome: fixed('timeout'), cause: () => 'ETIMEDOUT: the kernel gave up on the connection' },
  // Anything else from OpenSSL is this client refusing what the server sent: a
  // protocol violation by the server (not TLS at all, a bad record), not a
  // failure of this machine, which is what `error` names.
  { test: (c) => c.startsWith('ERR_SSL_') || c.startsWith('ERR_TLS_'), outcome: fixed('protocol-error'), cause: (_c, e) => opensslReason(e) },
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
  const words = outcome === 'cert-untrusted' && code === 'UNABLE_TO_VERIFY_LEAF_SIGNATURE'
    ? "the leaf's issuer is not trusted"
    : CERT_WORDS[code];
  return { outcome, cause: words ? `${code}: ${words}` : code };
}
