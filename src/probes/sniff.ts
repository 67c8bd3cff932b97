import { randomBytes } from 'node:crypto';
import { namePlaintext } from '../core/plaintext.js';
import { connectTcp } from './tcp.js';

/**
 * A minimal TLS 1.2 ClientHello (one cipher, no extensions): enough for a
 * plaintext server to answer the way it answered the real one (an HTTP
 * server with 400, a mail server with an error line).
 */
function tinyClientHello(): Buffer {
  const body = Buffer.concat([Buffer.from([3, 3]), randomBytes(32), Buffer.from([0, 0, 2, 0x00, 0x2f, 1, 0])]);
  const hs = Buffer.concat([Buffer.from([1, 0, body.length >> 8, body.length & 255]), body]);
  return Buffer.concat([Buffer.from([0x16, 3, 1, hs.length >> 8, hs.length & 255]), hs]);
}

/**
 * What a server that is not speaking TLS says: one plain connection, the
 * server's own greeting if it speaks first (SSH, SMTP), otherwise its answer
 * to a ClientHello. Bounded in time and bytes; null when it says nothing.
 */
export async function sniffPlaintext(host: string, port: number, timeoutMs: number, signal: AbortSignal): Promise<string | null> {
  return (await sniffPlaintextFrom(host, port, timeoutMs, signal)).what;
}

/** As sniffPlaintext, with the local port of the plain connection (a capture of the run shows it too). */
export async function sniffPlaintextFrom(
  host: string,
  port: number,
  timeoutMs: number,
  signal: AbortSignal,
): Promise<{ what: string | null; localPort?: number }> {
  const c = await connectTcp({ host, port, timeoutMs, signal });
  const localPort = c.localPort;
  if (c.outcome !== 'ok' || !c.socket) return { what: null, localPort };
  const s = c.socket;
  const what = await new Promise<string | null>((resolve) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const done = () => {
      clearTimeout(greet);
      clearTimeout(stop);
      s.destroy();
      resolve(namePlaintext(Buffer.concat(chunks)));
    };
    // A server that speaks first does so at once; one that waits gets the ClientHello.
    const greet = setTimeout(() => s.write(tinyClientHello()), Math.min(200, timeoutMs / 4));
    const stop = setTimeout(done, timeoutMs);
    s.on('data', (d: Buffer) => {
      chunks.push(d);
      size += d.length;
      if (size >= 256 || d.includes(10)) done();
    });
    s.on('error', done);
    s.on('close', done);
    signal.addEventListener('abort', done, { once: true });
  });
  return { what, localPort };
}
