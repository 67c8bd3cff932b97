import { describe, expect, test } from 'vitest';
import { alertName, parseTlsVersion, TLS_ALERTS, tlsVersionName } from '../../src/core/tls.js';
import { classifyTlsError } from '../../src/probes/classify-tls.js';
import * as captureTls from '../../src/capture/tls.js';

// The IANA TLS Alert registry (tls-parameters, "TLS Alerts"), every assigned
// value as IANA spells it. Values not listed are Unassigned.
const IANA_TLS_ALERTS: readonly (readonly [number, string])[] = [
  [0, 'close_notify'],
  [10, 'unexpected_message'],
  [20, 'bad_record_mac'],
  [21, 'decryption_failed_RESERVED'],
  [22, 'record_overflow'],
  [30, 'decompression_failure_RESERVED'],
  [40, 'handshake_failure'],
  [41, 'no_certificate_RESERVED'],
  [42, 'bad_certificate'],
  [43, 'unsupported_certificate'],
  [44, 'certificate_revoked'],
  [45, 'certificate_expired'],
  [46, 'certificate_unknown'],
  [47, 'illegal_parameter'],
  [48, 'unknown_ca'],
  [49, 'access_denied'],
  [50, 'decode_error'],
  [51, 'decrypt_error'],
  [52, 'too_many_cids_requested'],
  [60, 'export_restriction_RESERVED'],
  [70, 'protocol_version'],
  [71, 'insufficient_security'],
  [80, 'internal_error'],
  [86, 'inappropriate_fallback'],
  [90, 'user_canceled'],
  [100, 'no_renegotiation'],
  [109, 'missing_extension'],
  [110, 'unsupported_extension'],
  [111, 'certificate_unobtainable_RESERVED'],
  [112, 'unrecognized_name'],
  [113, 'bad_certificate_status_response'],
  [114, 'bad_certificate_hash_value_RESERVED'],
  [115, 'unknown_psk_identity'],
  [116, 'certificate_required'],
  [117, 'general_error'],
  [120, 'no_application_protocol'],
  [121, 'ech_required'],
];

/** How conndx prints a registry name: the `_RESERVED` suffix dropped. */
const printed = (iana: string) => iana.replace(/_RESERVED$/, '');

describe('the one TLS alert table is the IANA registry', () => {
  test('every registry value is a row with its name, reserved ones marked, and nothing else', () => {
    expect(TLS_ALERTS.map((r) => r.code)).toEqual(IANA_TLS_ALERTS.map(([c]) => c));
    for (const [code, iana] of IANA_TLS_ALERTS) {
      const row = TLS_ALERTS.find((r) => r.code === code);
      expect(row?.name, `alert ${code}`).toBe(printed(iana));
      expect(row?.reserved === true, `alert ${code} reserved`).toBe(iana.endsWith('_RESERVED'));
    }
  });
  test('decompression_failure (30), which tls used to call unknown_30', () => {
    expect(alertName(30)).toBe('decompression_failure');
  });
});

/** An error as Node gives it when OpenSSL read alert `n` from the server. */
function received(n: number): Error {
  const e = new Error(`error:0A000410:SSL routines:ssl3_read_bytes:alert:../ssl/record/rec_layer_s3.c:1601:SSL alert number ${n}\n`);
  return Object.assign(e, { code: 'ERR_SSL_SOMETHING' });
}

describe('tls and pcap name every alert number alike', () => {
  test('0..255: the probe outcome and the capture name agree', () => {
    for (let n = 0; n <= 255; n++) {
      const pcapName = captureTls.alertName(n);
      const known = IANA_TLS_ALERTS.find(([c]) => c === n);
      expect(pcapName, `alert ${n}`).toBe(known ? printed(known[1]) : `unknown_${n}`);
      if (n === 0) continue; // close_notify ends the stream for OpenSSL: the probe says closed
      expect(classifyTlsError(received(n)).outcome, `alert ${n}`).toBe(`alert:${pcapName}`);
    }
  });
});

describe('one version vocabulary', () => {
  test('the parser takes the spellings users write', () => {
    for (const s of ['1.2', 'tls1.2', 'TLSv1.2', 'tlsv1.2', ' TLS v1.2 ']) expect(parseTlsVersion(s), s).toBe('TLSv1.2');
    expect(parseTlsVersion('TLSv1.3')).toBe('TLSv1.3');
    for (const s of ['1.1', 'SSLv3', '', 'TLSv1.23']) expect(parseTlsVersion(s), s).toBeNull();
  });
  test('wire numbers name as the parser spells them', () => {
    expect(tlsVersionName(0x0303)).toBe(parseTlsVersion('1.2'));
    expect(tlsVersionName(0x0304)).toBe(parseTlsVersion('1.3'));
    expect(tlsVersionName(0x7f1c)).toBe('TLSv1.3-draft28');
    expect(tlsVersionName(0x1234)).toBe('0x1234');
  });
});
