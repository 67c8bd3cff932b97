import { describe, expect, test } from 'vitest';
import {
  alertName, CERT_ERRORS, classifyCertError, classifyTlsError, receivedAlert, TLS_ALERTS,
} from '../../src/probes/classify-tls.js';

/** An error shaped as Node gives it when OpenSSL read an alert from the server. */
function alertError(code: number, opensslCode?: string): Error {
  const e = new Error(`8018D9F6:error:0A000410:SSL routines:ssl3_read_bytes:some alert:../deps/openssl/openssl/ssl/record/rec_layer_s3.c:1601:SSL alert number ${code}\n`);
  Object.assign(e, { code: opensslCode ?? 'ERR_SSL_SOMETHING', library: 'SSL routines', reason: 'some alert' });
  return e;
}

// RFC 8446 section 6 (AlertDescription), plus the TLS 1.2-era values OpenSSL may still send.
const RFC8446 = [
  [0, 'close_notify'], [10, 'unexpected_message'], [20, 'bad_record_mac'], [22, 'record_overflow'],
  [40, 'handshake_failure'], [42, 'bad_certificate'], [43, 'unsupported_certificate'], [44, 'certificate_revoked'],
  [45, 'certificate_expired'], [46, 'certificate_unknown'], [47, 'illegal_parameter'], [48, 'unknown_ca'],
  [49, 'access_denied'], [50, 'decode_error'], [51, 'decrypt_error'], [70, 'protocol_version'],
  [71, 'insufficient_security'], [80, 'internal_error'], [86, 'inappropriate_fallback'], [90, 'user_canceled'],
  [109, 'missing_extension'], [110, 'unsupported_extension'], [112, 'unrecognized_name'],
  [113, 'bad_certificate_status_response'], [115, 'unknown_psk_identity'], [116, 'certificate_required'],
  [120, 'no_application_protocol'],
] as const;
const LEGACY = [[21, 'decryption_failed'], [41, 'no_certificate'], [60, 'export_restriction'], [100, 'no_renegotiation']] as const;

describe('the alert table covers RFC 8446 section 6', () => {
  test('every RFC 8446 alert and the legacy ones are rows, and nothing else', () => {
    const table = new Map(TLS_ALERTS.map((r) => [r.code, r.name]));
    for (const [code, name] of [...RFC8446, ...LEGACY]) expect(table.get(code), `alert ${code}`).toBe(name);
    expect(TLS_ALERTS).toHaveLength(RFC8446.length + LEGACY.length);
    expect(TLS_ALERTS.filter((r) => r.legacy).map((r) => r.code).sort((a, b) => a - b)).toEqual(LEGACY.map(([c]) => c));
  });
  test('an alert number not in the table keeps its number', () => {
    expect(alertName(255)).toBe('unknown_255');
  });
});

describe('alert rows: the number in the message, and the OpenSSL code alone, both give alert:<name>', () => {
  for (const row of TLS_ALERTS) {
    test(`${row.code} ${row.name}`, () => {
      expect(classifyTlsError(alertError(row.code)).outcome).toBe(`alert:${row.name}`);
      if (row.openssl) {
        const bare = Object.assign(new Error('alert'), { code: row.openssl });
        expect(receivedAlert(bare)).toBe(row.code);
        expect(classifyTlsError(bare).outcome).toBe(`alert:${row.name}`);
      }
    });
  }
});

describe('transport and local rows', () => {
  const err = (code: string, message = code) => Object.assign(new Error(message), { code });
  test('ECONNRESET with no end first is an RST: reset', () => {
    expect(classifyTlsError(err('ECONNRESET', 'read ECONNRESET'), { endFirst: false }).outcome).toBe('reset');
  });
  test('ECONNRESET after end is a FIN: closed', () => {
    const e = err('ECONNRESET', 'Client network socket disconnected before secure TLS connection was established');
    expect(classifyTlsError(e, { endFirst: true }).outcome).toBe('closed');
  });
  test('EPIPE (ClientHello written into a reset connection) is reset', () => {
    expect(classifyTlsError(err('EPIPE')).outcome).toBe('reset');
  });
  test('ETIMEDOUT is timeout', () => {
    expect(classifyTlsError(err('ETIMEDOUT')).outcome).toBe('timeout');
  });
  test('EMFILE is a local error and says so', () => {
    const c = classifyTlsError(err('EMFILE'));
    expect(c).toMatchObject({ outcome: 'error', local: true });
    expect(c.cause).toMatch(/EMFILE/);
  });
  test('an alert this client sent (no "alert number") is error with its cause, not the server\'s alert', () => {
    const e = Object.assign(new Error('80DB:error:0A00010B:SSL routines:ssl3_get_record:wrong version number:../deps/openssl/openssl/ssl/record/ssl3_record.c:354:\n'), {
      code: 'ERR_SSL_WRONG_VERSION_NUMBER', reason: 'wrong version number',
    });
    const c = classifyTlsError(e);
    expect(c.outcome).toBe('protocol-error');
    expect(c.local).toBe(false);
    expect(c.cause).toBe('ERR_SSL_WRONG_VERSION_NUMBER: wrong version number');
  });
  test('AggregateError: the inner error decides', () => {
    expect(classifyTlsError(new AggregateError([err('ECONNRESET')])).outcome).toBe('reset');
  });
  test('an unknown error is error with its message', () => {
    expect(classifyTlsError(new Error('strange')).cause).toBe('strange');
  });
});

describe('certificate rows', () => {
  for (const [code, outcome] of Object.entries(CERT_ERRORS)) {
    test(`${code} → ${outcome}`, () => {
      const c = classifyCertError(code, { leafSelfIssued: false, chainLength: 1 });
      expect(c.outcome).toBe(outcome);
      expect(c.cause.startsWith(code)).toBe(true);
    });
  }
  test('UNABLE_TO_VERIFY_LEAF_SIGNATURE with a self-issued leaf is untrusted, not an incomplete chain', () => {
    expect(classifyCertError('UNABLE_TO_VERIFY_LEAF_SIGNATURE', { leafSelfIssued: true, chainLength: 1 }).outcome).toBe('cert-untrusted');
  });
  test('UNABLE_TO_VERIFY_LEAF_SIGNATURE when more than the leaf was sent is untrusted', () => {
    expect(classifyCertError('UNABLE_TO_VERIFY_LEAF_SIGNATURE', { leafSelfIssued: false, chainLength: 2 }).outcome).toBe('cert-untrusted');
  });
  test('an unknown verification code is untrusted and named', () => {
    expect(classifyCertError('SOMETHING_NEW')).toEqual({ outcome: 'cert-untrusted', cause: 'SOMETHING_NEW' });
  });
});

describe('a leaf alone: missing intermediate or private CA', () => {
  test('with a CA Issuers URL (as public CAs write) it is an incomplete chain', () => {
    expect(classifyCertError('UNABLE_TO_VERIFY_LEAF_SIGNATURE', { leafSelfIssued: false, chainLength: 1, caIssuers: true, issuer: 'CN=Some CA' }).outcome).toBe('cert-chain-incomplete');
  });
  test('without one it is untrusted, with the issuer and both causes named', () => {
    const c = classifyCertError('UNABLE_TO_VERIFY_LEAF_SIGNATURE', { leafSelfIssued: false, chainLength: 1, caIssuers: false, issuer: 'CN=Corp Root' });
    expect(c.outcome).toBe('cert-untrusted');
    expect(c.cause).toContain('"CN=Corp Root"');
    expect(c.cause).toMatch(/private CA.*--ca.*missing intermediate/);
  });
});
