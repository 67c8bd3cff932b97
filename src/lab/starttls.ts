import * as net from 'node:net';
import { listenTracked } from './listen.js';
import * as tls from 'node:tls';
import { labPki, LAB_SERVER_NAME, type LabPki } from './certs.js';
import { LAB_HOST, type LabFactory } from './types.js';

/**
 * STARTTLS lab endpoints: a plaintext dialog (SMTP, PostgreSQL), then, where
 * the server agrees, a real TLS server on the same connection with the lab's
 * valid chain.
 */

const noop = (): void => {};

interface Dialog {
  /** Called once per connection: write the greeting (if any) and return a handler for each line or byte run. */
  start(s: net.Socket, upgrade: () => void): (data: Buffer) => void;
}

/** Serves TLS on a socket whose plaintext dialog is over: the next bytes are the ClientHello. */
function upgradeSocket(s: net.Socket, context: tls.SecureContext, afterTls: (t: tls.TLSSocket) => void): void {
  const t = new tls.TLSSocket(s, { isServer: true, secureContext: context });
  t.on('error', noop);
  t.on('secure', () => afterTls(t));
}

function endpoint(name: string, description: string, expect: string, dialog: Dialog, info: Record<string, unknown>): LabFactory {
  return async (opts) => {
    const host = opts?.host ?? LAB_HOST;
    const pki: LabPki = await labPki();
    const context = tls.createSecureContext({ cert: pki.valid.cert + pki.intermediate.cert, key: pki.valid.key });
    const server = net.createServer((s) => {
      let onData: (d: Buffer) => void = noop;
      const listener = (d: Buffer) => onData(d);
      const upgrade = () => {
        s.off('data', listener);
        upgradeSocket(s, context, (t) => {
          // After the handshake: answer anything politely, then close.
          t.on('data', () => t.end());
        });
      };
      onData = dialog.start(s, upgrade);
      s.on('data', listener);
    });
    const l = await listenTracked(server, host);
    return {
      name,
      kind: 'tls',
      host,
      port: l.port,
      description,
      expect,
      info: { ca: pki.ca.cert, sni: LAB_SERVER_NAME, ...info },
      close: l.close,
    };
  };
}

/** Splits a byte stream into CRLF lines for a handler. */
function lines(handle: (line: string) => void): (d: Buffer) => void {
  let buf = '';
  return (d) => {
    buf += d.toString('latin1');
    for (let i = buf.indexOf('\n'); i >= 0; i = buf.indexOf('\n')) {
      const line = buf.slice(0, i).replace(/\r$/, '');
      buf = buf.slice(i + 1);
      handle(line);
      if (buf.length > 4096) buf = '';
    }
  };
}

/** An SMTP server (RFC 5321) whose EHLO lists STARTTLS or not, and which answers STARTTLS with `answer`. */
function smtp(offer: boolean, answer = '220 2.0.0 Ready to start TLS'): Dialog {
  return {
    start(s, upgrade) {
      s.write('220 lab.conndx.test ESMTP conndx lab\r\n');
      return lines((line) => {
        const verb = line.split(' ')[0]!.toUpperCase();
        if (verb === 'EHLO') {
          s.write(
            `250-lab.conndx.test greets ${line.slice(5)}\r\n250-PIPELINING\r\n250-SIZE 10240000\r\n${offer ? '250-STARTTLS\r\n' : ''}250 8BITMIME\r\n`,
          );
        } else if (verb === 'HELO') s.write('250 lab.conndx.test\r\n');
        else if (verb === 'STARTTLS' && offer) {
          s.write(`${answer}\r\n`);
          if (answer.startsWith('220')) upgrade();
        } else if (verb === 'QUIT') s.end('221 2.0.0 Bye\r\n');
        else s.write('502 5.5.2 Command not recognized\r\n');
      });
    },
  };
}

/** A PostgreSQL server's answer to the SSLRequest (protocol section 55.2.10): 'S' then TLS, or 'N'. */
function postgres(accept: boolean): Dialog {
  return {
    start(s, upgrade) {
      let got = Buffer.alloc(0);
      return (d) => {
        got = Buffer.concat([got, d]);
        if (got.length < 8) return;
        const isSslRequest = got.readUInt32BE(0) === 8 && got.readUInt32BE(4) === 80877103;
        if (!isSslRequest) {
          s.end();
          return;
        }
        s.write(accept ? 'S' : 'N');
        if (accept) upgrade();
        // After 'N' a client would send its StartupMessage in the clear; the lab closes once it has answered.
        else s.end();
        got = Buffer.alloc(0);
      };
    },
  };
}

export const STARTTLS_LAB: Record<string, LabFactory> = {
  'smtp-starttls': endpoint('smtp-starttls', 'an SMTP server that offers STARTTLS and then serves the lab chain', 'ok', smtp(true), {
    starttls: 'smtp',
  }),
  'smtp-no-starttls': endpoint(
    'smtp-no-starttls',
    'an SMTP server whose EHLO reply does not list STARTTLS',
    'starttls-not-offered',
    smtp(false),
    { starttls: 'smtp' },
  ),
  'smtp-starttls-refused': endpoint(
    'smtp-starttls-refused',
    'an SMTP server that lists STARTTLS but answers it with 454 (TLS not available)',
    'starttls-refused',
    smtp(true, '454 4.7.0 TLS not available due to temporary reason'),
    { starttls: 'smtp' },
  ),
  'postgres-ssl': endpoint(
    'postgres-ssl',
    "a PostgreSQL server that answers the SSLRequest with 'S' and then serves the lab chain",
    'ok',
    postgres(true),
    { starttls: 'postgres' },
  ),
  'postgres-no-ssl': endpoint(
    'postgres-no-ssl',
    "a PostgreSQL server that answers the SSLRequest with 'N' (no TLS)",
    'starttls-not-offered',
    postgres(false),
    { starttls: 'postgres' },
  ),
};
