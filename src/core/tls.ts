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

/**
 * Supported groups (IANA TLS Supported Groups registry, tls-parameters-8):
 * the groups the raw ClientHello prober offers, with the size of the key
 * share a client sends for each (RFC 8446 section 4.2.8.2, RFC 7919, and
 * draft-ietf-tls-ecdhe-mlkem for the hybrids: ML-KEM-768 encapsulation key
 * 1184 bytes, ciphertext 1088 bytes).
 */
export interface GroupRow {
  code: number;
  /** The registry's name. */
  name: string;
  /** Client key share length in bytes. */
  shareLength: number;
  /** Server key share length (differs for the ML-KEM hybrids: a ciphertext, not a key). */
  serverShareLength: number;
  /** Other spellings conndx accepts on the command line (lower case). */
  aliases: readonly string[];
}

export const TLS_GROUPS: readonly GroupRow[] = [
  { code: 0x0017, name: 'secp256r1', shareLength: 65, serverShareLength: 65, aliases: ['p-256', 'p256', 'prime256v1'] },
  { code: 0x0018, name: 'secp384r1', shareLength: 97, serverShareLength: 97, aliases: ['p-384', 'p384'] },
  { code: 0x0019, name: 'secp521r1', shareLength: 133, serverShareLength: 133, aliases: ['p-521', 'p521'] },
  { code: 0x001d, name: 'x25519', shareLength: 32, serverShareLength: 32, aliases: [] },
  { code: 0x001e, name: 'x448', shareLength: 56, serverShareLength: 56, aliases: [] },
  { code: 0x0100, name: 'ffdhe2048', shareLength: 256, serverShareLength: 256, aliases: [] },
  { code: 0x0101, name: 'ffdhe3072', shareLength: 384, serverShareLength: 384, aliases: [] },
  { code: 0x11eb, name: 'SecP256r1MLKEM768', shareLength: 65 + 1184, serverShareLength: 65 + 1088, aliases: ['p256mlkem768'] },
  { code: 0x11ec, name: 'X25519MLKEM768', shareLength: 1184 + 32, serverShareLength: 1088 + 32, aliases: ['x25519mlkem', 'mlkem'] },
  { code: 0x11ed, name: 'SecP384r1MLKEM1024', shareLength: 97 + 1568, serverShareLength: 97 + 1568, aliases: ['p384mlkem1024'] },
];

export const GROUP_X25519 = 0x001d;
export const GROUP_SECP256R1 = 0x0017;
export const GROUP_X25519MLKEM768 = 0x11ec;

const GROUP_BY_CODE = new Map(TLS_GROUPS.map((g) => [g.code, g] as const));

/** The group row of a number, or undefined (GREASE and unknown numbers). */
export function groupByCode(code: number): GroupRow | undefined {
  return GROUP_BY_CODE.get(code);
}

/** The printed name of a group number: the registry's, `GREASE` for a GREASE value, else `0x….`. */
export function groupName(code: number): string {
  return GROUP_BY_CODE.get(code)?.name ?? (isGrease(code) ? 'GREASE' : hex4(code));
}

/** `x25519`, `X25519MLKEM768`, `p-256`, `0x11ec` → the group row; null for anything else. */
export function parseGroup(s: string): GroupRow | null {
  const t = s.trim().toLowerCase();
  if (/^0x[0-9a-f]{1,4}$/.test(t)) return GROUP_BY_CODE.get(parseInt(t, 16)) ?? null;
  return TLS_GROUPS.find((g) => g.name.toLowerCase() === t || g.aliases.includes(t)) ?? null;
}

/**
 * The RFC 7919 FFDHE primes (generator 2), hex: a client key share for these
 * groups is 2^x mod p, left-padded to the prime's length (RFC 8446 section 4.2.8.1).
 */
export const FFDHE_PRIMES: Readonly<Record<number, string>> = {
  0x0100:
    'ffffffffffffffffadf85458a2bb4a9aafdc5620273d3cf1d8b9c583ce2d3695a9e13641146433fbcc939dce249b3ef9' +
    '7d2fe363630c75d8f681b202aec4617ad3df1ed5d5fd65612433f51f5f066ed0856365553ded1af3b557135e7f57c935' +
    '984f0c70e0e68b77e2a689daf3efe8721df158a136ade73530acca4f483a797abc0ab182b324fb61d108a94bb2c8e3fb' +
    'b96adab760d7f4681d4f42a3de394df4ae56ede76372bb190b07a7c8ee0a6d709e02fce1cdf7e2ecc03404cd28342f61' +
    '9172fe9ce98583ff8e4f1232eef28183c3fe3b1b4c6fad733bb5fcbc2ec22005c58ef1837d1683b2c6f34a26c1b2effa' +
    '886b423861285c97ffffffffffffffff',
  0x0101:
    'ffffffffffffffffadf85458a2bb4a9aafdc5620273d3cf1d8b9c583ce2d3695a9e13641146433fbcc939dce249b3ef9' +
    '7d2fe363630c75d8f681b202aec4617ad3df1ed5d5fd65612433f51f5f066ed0856365553ded1af3b557135e7f57c935' +
    '984f0c70e0e68b77e2a689daf3efe8721df158a136ade73530acca4f483a797abc0ab182b324fb61d108a94bb2c8e3fb' +
    'b96adab760d7f4681d4f42a3de394df4ae56ede76372bb190b07a7c8ee0a6d709e02fce1cdf7e2ecc03404cd28342f61' +
    '9172fe9ce98583ff8e4f1232eef28183c3fe3b1b4c6fad733bb5fcbc2ec22005c58ef1837d1683b2c6f34a26c1b2effa' +
    '886b4238611fcfdcde355b3b6519035bbc34f4def99c023861b46fc9d6e6c9077ad91d2691f7f7ee598cb0fac186d91c' +
    'aefe130985139270b4130c93bc437944f4fd4452e2d74dd364f2e21e71f54bff5cae82ab9c9df69ee86d2bc522363a0d' +
    'abc521979b0deada1dbf9a42d5c4484e0abcd06bfa53ddef3c1b20ee3fd59d7c25e41d2b66c62e37ffffffffffffffff',
};

/** The 16 GREASE values of RFC 8701 (0x0a0a, 0x1a1a, … 0xfafa), for cipher suites, groups, versions and extensions. */
export const GREASE_VALUES: readonly number[] = Array.from({ length: 16 }, (_, i) => ((i << 4) | 0x0a) * 0x0101);

export function isGrease(v: number): boolean {
  return (v & 0x0f0f) === 0x0a0a && v >> 8 === (v & 0xff);
}

/** Cipher suites the raw prober offers or may read back (IANA TLS Cipher Suites registry). */
export const TLS_CIPHER_SUITES: Readonly<Record<number, string>> = {
  0x1301: 'TLS_AES_128_GCM_SHA256',
  0x1302: 'TLS_AES_256_GCM_SHA384',
  0x1303: 'TLS_CHACHA20_POLY1305_SHA256',
  0x1304: 'TLS_AES_128_CCM_SHA256',
  0x1305: 'TLS_AES_128_CCM_8_SHA256',
  0xc02b: 'TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256',
  0xc02f: 'TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256',
  0xc02c: 'TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384',
  0xc030: 'TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384',
  0xcca9: 'TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256',
  0xcca8: 'TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256',
  0xc013: 'TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA',
  0xc014: 'TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA',
  0x009c: 'TLS_RSA_WITH_AES_128_GCM_SHA256',
  0x009d: 'TLS_RSA_WITH_AES_256_GCM_SHA384',
  0x002f: 'TLS_RSA_WITH_AES_128_CBC_SHA',
  0x0035: 'TLS_RSA_WITH_AES_256_CBC_SHA',
  0x00ff: 'TLS_EMPTY_RENEGOTIATION_INFO_SCSV',
};

export function cipherSuiteName(code: number): string {
  return TLS_CIPHER_SUITES[code] ?? (isGrease(code) ? 'GREASE' : hex4(code));
}

/** TLS extension numbers the raw prober writes or reads (IANA TLS ExtensionType Values). */
export const TLS_EXT = {
  serverName: 0,
  supportedGroups: 10,
  ecPointFormats: 11,
  signatureAlgorithms: 13,
  alpn: 16,
  padding: 21,
  extendedMasterSecret: 23,
  sessionTicket: 35,
  supportedVersions: 43,
  pskKeyExchangeModes: 45,
  keyShare: 51,
  renegotiationInfo: 0xff01,
} as const;

/** Signature schemes offered by the raw prober (RFC 8446 section 4.2.3). */
export const TLS_SIGNATURE_SCHEMES: readonly number[] = [0x0403, 0x0804, 0x0401, 0x0503, 0x0805, 0x0501, 0x0806, 0x0601, 0x0807];

/**
 * The ServerHello.random of a HelloRetryRequest (RFC 8446 section 4.1.3):
 * SHA-256 of "HelloRetryRequest".
 */
export const HRR_RANDOM = Buffer.from('cf21ad74e59a6111be1d8c021e65b891c2a211167abb8c5e079e09e2c8a8339c', 'hex');

function hex4(v: number): string {
  return `0x${v.toString(16).padStart(4, '0')}`;
}
