import * as http2 from 'node:http2';
import type * as net from 'node:net';
import { now } from '../core/clock.js';
import type { Attempt } from '../core/types.js';
import { statusExpected, type StatusRanges } from './http-status.js';

/**
 * The HTTP phase over HTTP/2: one GET on a fresh session over the socket
 * the TCP (and TLS) phase opened. First byte is the response's HEADERS
 * frame (the server's SETTINGS, sent before any request, is not a response).
 */

/** Which HTTP the HTTP phase speaks: `auto` offers h2 and http/1.1 in ALPN and follows the server's choice. */
export type HttpProtocolChoice = 'auto' | 'http1.1' | 'h2';

/** The ALPN list each choice offers. */
export function alpnFor(choice: HttpProtocolChoice): string[] {
  return choice === 'auto' ? ['h2', 'http/1.1'] : choice === 'h2' ? ['h2'] : ['http/1.1'];
}

export interface H2Request {
  /** http or https: the :scheme pseudo-header. */
  scheme: 'http' | 'https';
  authority: string;
  path: string;
  userAgent: string;
  timeoutMs: number;
  /** Statuses that count as ok (default: below 400). */
  expectStatus?: StatusRanges;
}

export function exchangeH2(
  sock: net.Socket,
  req: H2Request,
  signal: AbortSignal,
  deadline: number,
  timings: Record<string, number>,
): Promise<Attempt> {
  return new Promise<Attempt>((resolve) => {
    let settled = false;
    const fail = { phase: 'app' as const, ms: null, tallies: { protocols: 'h2' }, detail: { protocol: 'h2' } };
    const session = http2.connect(`${req.scheme}://${req.authority}`, { createConnection: () => sock });
    const finish = (a: Attempt) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      signal.removeEventListener('abort', onAbort);
      session.removeAllListeners('error');
      session.on('error', () => {});
      session.destroy();
      sock.destroy();
      resolve({ ...a, timings: { ...timings, ...a.timings } });
    };
    const timer = setTimeout(
      () => finish({ ...fail, outcome: 'timeout', cause: `no HTTP/2 response within ${Math.round(req.timeoutMs)} ms of the request` }),
      Math.max(1, deadline - now()),
    );
    const onAbort = () => finish({ ...fail, outcome: 'timeout', cause: 'aborted while waiting for the response' });
    signal.addEventListener('abort', onAbort, { once: true });
    const onError = (e: NodeJS.ErrnoException) => {
      const code = e.code ?? '';
      if (code === 'ECONNRESET' || code === 'EPIPE') return finish({ ...fail, outcome: 'reset', cause: code });
      if (/^ERR_HTTP2_(STREAM_ERROR|SESSION_ERROR|GOAWAY_SESSION|INVALID|ERROR)/.test(code) || code === 'ERR_HTTP2_PROTOCOL_ERROR')
        return finish({ ...fail, outcome: 'malformed', cause: `${code}: ${e.message}` });
      finish({ ...fail, outcome: 'error', cause: code || e.message });
    };
    session.on('error', onError);
    session.once('goaway', (errorCode: number) => {
      if (errorCode !== 0)
        finish({ ...fail, outcome: 'closed', cause: `the server sent GOAWAY (error code ${errorCode}) before a response` });
    });
    session.once('close', () => finish({ ...fail, outcome: 'closed', cause: 'the server closed the HTTP/2 session before a response' }));
    const t0 = now();
    const stream = session.request({
      ':method': 'GET',
      ':path': req.path,
      ':authority': req.authority,
      'user-agent': req.userAgent,
      accept: '*/*',
    });
    stream.on('error', onError);
    stream.once('close', () => {
      if (!settled)
        finish({ ...fail, outcome: 'reset', cause: `the server reset the stream (RST_STREAM ${stream.rstCode}) before a response` });
    });
    stream.once('response', (headers) => {
      const firstByteMs = now() - t0;
      const status = Number(headers[':status']);
      const line = `HTTP/2 ${status}`;
      const ok = statusExpected(status, req.expectStatus);
      finish({
        outcome: ok ? 'ok' : `http-${status}`,
        phase: 'app',
        ms: firstByteMs,
        tallies: { statuses: String(status), protocols: 'h2' },
        facts: { statusLine: line, protocol: 'h2' },
        ...(ok ? {} : { cause: line }),
        detail: { status, protocol: 'h2' },
      });
    });
    stream.end();
  });
}
