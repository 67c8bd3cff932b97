import { describe, expect, test } from 'vitest';
import { alertName, CERT_ERRORS, classifyCertError, classifyTlsError, receivedAlert, TLS_ALERTS } from '../../src/probes/classify-tls.js';

/** An error shaped as Node gives it when OpenSSL read an alert from the server. */
function alertError(code: number, opensslCode?: string): Error {
  const e = new Error(
    `8018D9F6:error:0A000410:SSL routines:ssl3_read_bytes:some alert:../deps/openssl/openssl/ssl/record/rec_layer_s3.c:1601:SSL alert number ${code}\n`,
  );
  Object.assign(e, { code: opensslCode ?? 'ERR_SSL_SOMETHING', library: 'SSL routines', reason: 'some alert' });
  return e;
}

describe('the alert table', () => {
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
  test("a reply that is no TLS record (OpenSSL: wrong version number) is not-tls with its cause, not the server's alert", () => {
    const e = Object.assign(
      new Error(
        '80DB:error:0A00010B:SSL routines:ssl3_get_record:wrong version number:../deps/openssl/openssl/ssl/record/ssl3_record.c:354:\n',
      ),
      {
        code: 'ERR_SSL_WRONG_VERSION_NUMBER',
        reason: 'wrong version number',
      },
    );
    const c = classifyTlsError(e);
    expect(c.outcome).toBe('not-tls');
    expect(c.local).toBe(false);
    expect(c.cause).toBe('the server did not answer in TLS (ERR_SSL_WRONG_VERSION_NUMBER: wrong version number)');
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
    expect(
      classifyCertError('UNABLE_TO_VERIFY_LEAF_SIGNATURE', { leafSelfIssued: false, chainLength: 1, caIssuers: true, issuer: 'CN=Some CA' })
        .outcome,
    ).toBe('cert-chain-incomplete');
  });
  test('without one it is untrusted, with the issuer and both causes named', () => {
    const c = classifyCertError('UNABLE_TO_VERIFY_LEAF_SIGNATURE', {
      leafSelfIssued: false,
      chainLength: 1,
      caIssuers: false,
      issuer: 'CN=Corp Root',
    });
    expect(c.outcome).toBe('cert-untrusted');
    expect(c.cause).toContain('"CN=Corp Root"');
    expect(c.cause).toMatch(/private CA.*--ca.*missing intermediate/);
  });
});
