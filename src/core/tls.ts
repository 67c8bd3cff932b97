/**
 * The one TLS vocabulary of conndx: alert numbers and names, protocol
 * version names and the version parser. `tls`, `pcap`, `lab`, checks and
 * diagnose all name an alert and a version through this file, so the same
 * handshake reads the same in every command.
 */

export interface AlertRow {
  code: number;
  /**
   * The name conndx prints (`alert:<name>`): the IANA TLS Alert registry's
   * name, snake_case, without the registry's `_RESERVED` suffix, which marks
   * alerts TLS 1.3 no longer sends but older peers still do.
   */
  name: string;
  /** The registry lists the name with `_RESERVED` (not to be sent in TLS 1.3). */
  reserved?: true;
  /** Node's `err.code` when this alert arrives from the peer (none for close_notify, which OpenSSL reads as end of stream). */
  openssl?: string;
  /**
   * Node's OpenSSL does not know this number: it drops the connection without
   * naming the alert, so `tls` can only report `closed` (`pcap` still names it).
   */
  unreadByNode?: true;
}

/** Every value of the IANA TLS Alert registry (tls-parameters-6), in order. */
export const TLS_ALERTS: readonly AlertRow[] = [
  { code: 0, name: 'close_notify' },
  { code: 10, name: 'unexpected_message', openssl: 'ERR_SSL_SSLV3_ALERT_UNEXPECTED_MESSAGE' },
  { code: 20, name: 'bad_record_mac', openssl: 'ERR_SSL_SSLV3_ALERT_BAD_RECORD_MAC' },
  { code: 21, name: 'decryption_failed', reserved: true, openssl: 'ERR_SSL_TLSV1_ALERT_DECRYPTION_FAILED' },
  { code: 22, name: 'record_overflow', openssl: 'ERR_SSL_TLSV1_ALERT_RECORD_OVERFLOW' },
  { code: 30, name: 'decompression_failure', reserved: true, openssl: 'ERR_SSL_SSLV3_ALERT_DECOMPRESSION_FAILURE' },
  { code: 40, name: 'handshake_failure', openssl: 'ERR_SSL_SSLV3_ALERT_HANDSHAKE_FAILURE' },
  { code: 41, name: 'no_certificate', reserved: true, openssl: 'ERR_SSL_SSLV3_ALERT_NO_CERTIFICATE' },
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
  { code: 52, name: 'too_many_cids_requested', unreadByNode: true },
  { code: 60, name: 'export_restriction', reserved: true, openssl: 'ERR_SSL_TLSV1_ALERT_EXPORT_RESTRICTION' },
  { code: 70, name: 'protocol_version', openssl: 'ERR_SSL_TLSV1_ALERT_PROTOCOL_VERSION' },
  { code: 71, name: 'insufficient_security', openssl: 'ERR_SSL_TLSV1_ALERT_INSUFFICIENT_SECURITY' },
  { code: 80, name: 'internal_error', openssl: 'ERR_SSL_TLSV1_ALERT_INTERNAL_ERROR' },
  { code: 86, name: 'inappropriate_fallback', openssl: 'ERR_SSL_TLSV1_ALERT_INAPPROPRIATE_FALLBACK' },
  { code: 90, name: 'user_canceled', openssl: 'ERR_SSL_TLSV1_ALERT_USER_CANCELLED' },
  { code: 100, name: 'no_renegotiation', openssl: 'ERR_SSL_TLSV1_ALERT_NO_RENEGOTIATION' },
  { code: 109, name: 'missing_extension', openssl: 'ERR_SSL_TLSV13_ALERT_MISSING_EXTENSION' },
  { code: 110, name: 'unsupported_extension', openssl: 'ERR_SSL_TLSV1_UNSUPPORTED_EXTENSION' },
  { code: 111, name: 'certificate_unobtainable', reserved: true },
  { code: 112, name: 'unrecognized_name', openssl: 'ERR_SSL_TLSV1_UNRECOGNIZED_NAME' },
  { code: 113, name: 'bad_certificate_status_response', openssl: 'ERR_SSL_TLSV1_BAD_CERTIFICATE_STATUS_RESPONSE' },
  { code: 114, name: 'bad_certificate_hash_value', reserved: true },
  { code: 115, name: 'unknown_psk_identity', openssl: 'ERR_SSL_TLSV1_ALERT_UNKNOWN_PSK_IDENTITY' },
  { code: 116, name: 'certificate_required', openssl: 'ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED' },
  { code: 117, name: 'general_error', unreadByNode: true },
  { code: 120, name: 'no_application_protocol', openssl: 'ERR_SSL_TLSV1_ALERT_NO_APPLICATION_PROTOCOL' },
  { code: 121, name: 'ech_required', unreadByNode: true },
];

const BY_CODE = new Map(TLS_ALERTS.map((r) => [r.code, r] as const));
const BY_OPENSSL = new Map(TLS_ALERTS.flatMap((r) => (r.openssl ? [[r.openssl, r] as const] : [])));

/** The printed name of an alert number; numbers the registry does not hold keep theirs (`unknown_255`). */
export function alertName(code: number): string {
  return BY_CODE.get(code)?.name ?? `unknown_${code}`;
}

/** The alert number Node's `err.code` stands for, when it stands for a received alert. */
export function alertByOpensslCode(code: string): number | null {
  return BY_OPENSSL.get(code)?.code ?? null;
}

/** Wire protocol versions and their names. */
export const TLS_VERSION_NAMES: Readonly<Record<number, string>> = {
  0x0300: 'SSLv3',
  0x0301: 'TLSv1.0',
  0x0302: 'TLSv1.1',
  0x0303: 'TLSv1.2',
  0x0304: 'TLSv1.3',
};

/** The versions conndx can pin a handshake to (Node's `minVersion`/`maxVersion` names). */
export const TLS_VERSIONS = ['TLSv1.2', 'TLSv1.3'] as const;
export type TlsVersion = (typeof TLS_VERSIONS)[number];

/** The name of a wire version number, as `pcap` prints it. */
export function tlsVersionName(v: number): string {
  const known = TLS_VERSION_NAMES[v];
  if (known) return known;
  if (v >> 8 === 0x7f) return `TLSv1.3-draft${v & 0xff}`;
  if (v === 0xfb1a) return 'TLSv1.3-fb';
  return `0x${v.toString(16).padStart(4, '0')}`;
}

/**
 * The one version parser: `1.2`, `tls1.2`, `TLSv1.2`, `tlsv1.3` → the Node
 * name; null for anything conndx cannot pin.
 */
export function parseTlsVersion(s: string): TlsVersion | null {
  const m = /^(?:tls\s*v?)?1\.([23])$/i.exec(s.trim());
  return m ? (`TLSv1.${m[1]}` as TlsVersion) : null;
}

/** The port a tls target without one is probed on. */
export const TLS_DEFAULT_PORT = 443;
