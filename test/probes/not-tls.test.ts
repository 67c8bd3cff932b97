import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { namePlaintext, looksLikeTlsRecord } from '../../src/core/plaintext.js';
import type { LabEndpoint } from '../../src/lab/types.js';
import { runCliJson } from '../helpers/cli.js';
import { startTls } from '../helpers/tls-lab.js';

describe('what answered instead of TLS is named', () => {
  test.each([
    ['HTTP/1.1 400 Bad Request\r\nServer: x\r\n\r\n', 'HTTP ("HTTP/1.1 400 Bad Request")'],
    ['SSH-2.0-OpenSSH_9.2p1 Debian\r\n', 'SSH ("SSH-2.0-OpenSSH_9.2p1 Debian")'],
    ['220 mail.example.test ESMTP ready\r\n', 'an SMTP or FTP greeting ("220 mail.example.test ESMTP ready")'],
    ['+OK POP3 ready\r\n', 'POP3 ("+OK POP3 ready")'],
    ['* OK IMAP4rev1 ready\r\n', 'IMAP ("* OK IMAP4rev1 ready")'],
    ['hello there\n', 'text ("hello there")'],
  ])('%j', (text, name) => {
    expect(namePlaintext(Buffer.from(text))).toBe(name);
  });
  test('binary bytes are shown in hex, at most 16', () => {
    expect(namePlaintext(Buffer.from([0, 1, 2, 255]))).toBe('bytes 00 01 02 ff');
    expect(namePlaintext(Buffer.alloc(40, 0xee))).toMatch(/^bytes (ee ){15}ee …$/);
    expect(namePlaintext(Buffer.alloc(0))).toBeNull();
  });
  test('a TLS record start is told from plaintext', () => {
    expect(looksLikeTlsRecord(Buffer.from([0x16, 3, 3, 0, 10]))).toBe(true);
    expect(looksLikeTlsRecord(Buffer.from([0x15, 3, 1, 0, 2]))).toBe(true);
    expect(looksLikeTlsRecord(Buffer.from('HTTP/1.1'))).toBe(false);
  });
});

describe('conndx tls against a plaintext service', () => {
  let http: LabEndpoint;
  let ssh: LabEndpoint;
  beforeAll(async () => {
    http = await startTls('tls-plaintext-http');
    ssh = await startTls('tls-ssh-banner');
  });
  afterAll(async () => {
    await http.close();
    await ssh.close();
  });

  test('an HTTP server: not-tls, its status line in the cause, exit 2', async () => {
    const r = await runCliJson(['tls', `127.0.0.1:${http.port}`, '--count', '3', '--timeout', '2s']);
    expect(r.json.outcomes).toEqual({ 'not-tls': 3 });
    expect(r.code).toBe(2);
    expect(r.json.answeredWith).toBe('HTTP ("HTTP/1.1 400 Bad Request")');
  });

  test('an SSH server, which speaks first: not-tls, its banner in the cause', async () => {
    const r = await runCliJson(['tls', `127.0.0.1:${ssh.port}`, '--count', '2', '--timeout', '2s']);
    expect(r.json.outcomes).toEqual({ 'not-tls': 2 });
    expect(r.json.answeredWith).toBe('SSH ("SSH-2.0-OpenSSH_9.2p1 conndx-lab")');
  });
});
