import { describe, expect, test } from 'vitest';
import { classifyConnection, EP, zeekConnState, type ConnFacts } from '../../src/capture/classify.js';

const { INACTIVE, SYN_SENT, SYN_ACK_SENT, PARTIAL, ESTABLISHED, CLOSED, RESET } = EP;

// One row per branch of Zeek's conn_state (base/protocols/conn/main.zeek).
describe('zeekConnState', () => {
  test.each([
    ['REJ', SYN_SENT, RESET, 0, 0, 'Sr'],
    ['REJ', RESET, RESET, 0, 0, 'SrR'],
    ['RSTRH', INACTIVE, RESET, 0, 0, 'hr'],
    ['RSTRH', PARTIAL, RESET, 10, 0, 'Dr'],
    ['RSTR', ESTABLISHED, RESET, 10, 5, 'ShADadr'],
    ['RSTR', RESET, RESET, 10, 0, 'ShADRr'],
    ['RSTOS0', RESET, INACTIVE, 0, 0, 'SR'],
    ['RSTOS0', RESET, INACTIVE, 0, 0, '^SR'],
    ['OTH', RESET, INACTIVE, 0, 0, 'R'],
    ['OTH', RESET, PARTIAL, 0, 0, 'SAR'],
    ['RSTO', RESET, ESTABLISHED, 5, 5, 'ShADadR'],
    ['SF', CLOSED, CLOSED, 5, 5, 'ShADadFf'],
    ['SH', CLOSED, INACTIVE, 0, 0, 'SF'],
    ['S2', CLOSED, ESTABLISHED, 1, 0, 'ShADF'],
    ['SHR', INACTIVE, CLOSED, 0, 0, 'hf'],
    ['S3', ESTABLISHED, CLOSED, 1, 0, 'ShADf'],
    ['S0', SYN_SENT, INACTIVE, 0, 0, 'S'],
    ['S1', ESTABLISHED, ESTABLISHED, 0, 0, 'ShA'],
    ['OTH', SYN_ACK_SENT, INACTIVE, 0, 0, 'H'],
    ['OTH', PARTIAL, PARTIAL, 5, 5, 'Dd'],
  ] as const)('%s from orig=%s resp=%s (%s/%s bytes, history %s)', (want, os, rs, osz, rsz, hist) => {
    expect(zeekConnState(os, rs, osz, rsz, hist)).toBe(want);
  });
});

const base: ConnFacts = {
  zeekState: 'SF',
  attempt: true,
  synAcked: true,
  rstBy: null,
  finBy: 'client',
  clientBytes: 10,
  serverBytes: 10,
  tls: null,
  openAtEnd: false,
};

describe('classifyConnection', () => {
  test.each<[string, Partial<ConnFacts>, string, string]>([
    ['refused', { zeekState: 'REJ', synAcked: false, rstBy: 'server' }, 'tcp', 'refused'],
    ['SYN never answered', { zeekState: 'S0', synAcked: false, finBy: null }, 'tcp', 'timeout'],
    ['client gave up on its SYN', { zeekState: 'RSTOS0', synAcked: false, rstBy: 'client' }, 'tcp', 'timeout'],
    // Accepted, then reset or closed before any data: the handshake worked, phase app (the tcp probe's rule).
    ['reset before any data', { zeekState: 'RSTR', rstBy: 'server', clientBytes: 0, serverBytes: 0 }, 'app', 'reset'],
    ['closed before any data', { finBy: 'server', clientBytes: 0, serverBytes: 0 }, 'app', 'closed'],
    ['reset mid-stream', { zeekState: 'RSTR', rstBy: 'server' }, 'app', 'reset'],
    ['clean', {}, 'ok', 'ok'],
    [
      'TLS alert',
      { tls: { complete: false, alert: 'handshake_failure', encryptedAlert: false, serverBytes: 7 } },
      'tls',
      'alert:handshake_failure',
    ],
    ['TLS reset', { rstBy: 'server', tls: { complete: false, alert: null, encryptedAlert: false, serverBytes: 0 } }, 'tls', 'reset'],
    // The ClientHello was sent, then a RST before any byte came back: tls reset, never tcp.
    [
      'TLS reset before any server byte',
      { rstBy: 'server', clientBytes: 517, serverBytes: 0, tls: { complete: false, alert: null, encryptedAlert: false, serverBytes: 0 } },
      'tls',
      'reset',
    ],
    [
      'TLS abandoned by the client',
      { finBy: 'client', tls: { complete: false, alert: null, encryptedAlert: false, serverBytes: 0 } },
      'tls',
      'timeout',
    ],
    [
      'TLS closed by the server',
      { finBy: 'server', tls: { complete: false, alert: null, encryptedAlert: false, serverBytes: 100 } },
      'tls',
      'closed',
    ],
    [
      'TLS stalled',
      { finBy: null, openAtEnd: true, tls: { complete: false, alert: null, encryptedAlert: false, serverBytes: 0 } },
      'tls',
      'stalled',
    ],
    ['TLS then reset', { rstBy: 'server', tls: { complete: true, alert: null, encryptedAlert: false, serverBytes: 900 } }, 'app', 'reset'],
    [
      'TLS then a client reset without its FIN',
      { rstBy: 'client', finBy: null, tls: { complete: true, alert: null, encryptedAlert: false, serverBytes: 900 } },
      'app',
      'reset',
    ],
    // The client closed first, then reset what still arrived (a session ticket): Zeek's SF, not a failure.
    [
      'TLS, client FIN then client RST',
      { rstBy: 'client', finBy: 'client', tls: { complete: true, alert: null, encryptedAlert: false, serverBytes: 900 } },
      'ok',
      'ok',
    ],
    ['plain, client FIN then client RST', { rstBy: 'client', finBy: 'client' }, 'ok', 'ok'],
    ['TLS ok', { tls: { complete: true, alert: null, encryptedAlert: false, serverBytes: 900 } }, 'ok', 'ok'],
  ])('%s', (_name, facts, phase, outcome) => {
    expect(classifyConnection({ ...base, ...facts })).toEqual({ phase, outcome });
  });

  test('a plaintext answer to the ClientHello is not-tls, named by what answered', () => {
    const tls = { complete: false, alert: null, encryptedAlert: false, serverBytes: 120, plaintext: 'HTTP ("HTTP/1.1 400 Bad Request")' };
    expect(classifyConnection({ ...base, finBy: 'server', tls })).toEqual({ phase: 'tls', outcome: 'not-tls', cause: tls.plaintext });
  });
});

describe('alert names on the wire', () => {
  test('a named alert by its RFC 8446 name; an unassigned number as the probes name it (unknown_<n>)', async () => {
    const { alertName } = await import('../../src/capture/tls.js');
    const probes = await import('../../src/probes/classify-tls.js');
    expect(alertName(40)).toBe('handshake_failure');
    expect(alertName(255)).toBe('unknown_255');
    expect(alertName(255)).toBe(probes.alertName(255));
  });
});
