import type * as net from 'node:net';
import * as tls from 'node:tls';
import { isIP } from 'node:net';
import { now } from '../core/clock.js';
import { classifyCertError, classifyTlsError } from './classify-tls.js';
import { connectTcp } from './tcp.js';
import type { Attempt, Probe } from '../core/types.js';
import { alpnFor, exchangeH2, type HttpProtocolChoice } from './http2.js';
import { statusExpected, type StatusRanges } from './http-status.js';
import { tunnelForHttp } from './http-proxy.js';
import type { ProxyConfig } from './proxy.js';

export { alpnFor, statusExpected, type HttpProtocolChoice, type StatusRanges };

/** One HTTP request over its own connection: status line and time to first byte. */
export interface HttpTarget {
  /** IP literal. */
  address: string;
  port: number;
  tls: boolean;
  /** SNI (names only). */
  serverName?: string;
  /** Host header value. */
  hostHeader: string;
  path: string;
}

export interface HttpProbeOptions {
  timeoutMs: number;
  ca?: string | string[];
  cert?: string;
  key?: string;
  userAgent: string;
  /** Statuses that count as ok (default: below 400). */
  expectStatus?: StatusRanges;
  /**
   * `auto` (default): ALPN h2,http/1.1 and the request over HTTP/2 when the
   * server picks h2; `http1.1` or `h2` force one (`h2` over plain TCP is
   * HTTP/2 with prior knowledge).
   */
  protocol?: HttpProtocolChoice;
  /** Through this HTTP CONNECT proxy (src/probes/http-proxy.ts); each target's address may then be a name the proxy resolves. */
  proxy?: ProxyConfig;
  /**
   * Judge the certificate (chain against `ca` or the default roots, and the
   * SNI name): a bad one ends the attempt as `tls:cert-…` (`conndx http` and
   * http checks; not with --insecure). Off in diagnose, whose TLS phase judges it.
   */
  verify?: boolean;
}

/**
 * Outcomes: `ok` (an expected status: below 400 unless `expectStatus` says), `http-<status>` otherwise,
 * `timeout` (no first byte within the timeout), `reset`, `closed` (FIN
 * before a response), `malformed` (bytes that are not an HTTP response), and
 * `tcp:<outcome>` / `tls:<outcome>` when the connection itself failed,
 * `no-h2` when `--http2` was asked and the server's ALPN chose otherwise. Phase
 * `app` once the connection is up. The certificate is not judged here: the
 * TLS phase does that.
 */
export function createHttpProbe(o: HttpProbeOptions): Probe<HttpTarget> {
  const context = tls.createSecureContext({
    ...(o.ca !== undefined ? { ca: o.ca } : {}),
    ...(o.cert !== undefined ? { cert: o.cert, key: o.key } : {}),
  });
  const choice = o.protocol ?? 'auto';
  const alpn = alpnFor(choice);
  return async (t, signal) => {
    const deadline = now() + o.timeoutMs;
    const tunnel = o.proxy ? await tunnelForHttp(o.proxy, t, o.timeoutMs, signal) : null;
    if (tunnel && 'attempt' in tunnel) return tunnel.attempt;
    const c = tunnel
      ? { outcome: 'ok' as const, socket: tunnel.socket, connectMs: null, cause: undefined, local: undefined }
      : await connectTcp({ host: t.address, port: t.port, timeoutMs: o.timeoutMs, signal });
    if (c.outcome === 'reset') {
      // Accepted, then reset at once: the phase after the handshake failed, as `conndx tcp --hold` says.
      const cause = 'the server accepted the connection and reset it (RST) before the request';
      return t.tls ? { outcome: 'tls:reset', phase: 'tls', ms: null, cause } : { outcome: 'reset', phase: 'app', ms: null, cause };
    }
    if (c.outcome !== 'ok' || !c.socket) {
      return { outcome: `tcp:${c.outcome}`, phase: 'tcp', ms: null, cause: c.cause, ...(c.local ? { local: true } : {}) };
    }
    const timings: Record<string, number> = tunnel?.timings ?? { tcpConnectMs: c.connectMs! };
    let sock: net.Socket = c.socket;
    if (t.tls) {
      const tStart = now();
      const r = await new Promise<{ ok: true; s: tls.TLSSocket } | { ok: false; outcome: string; cause: string }>((resolve) => {
        const s = tls.connect({
          socket: c.socket!,
          secureContext: context,
          rejectUnauthorized: false,
          ALPNProtocols: alpn,
          ...(t.serverName && isIP(t.serverName) === 0 ? { servername: t.serverName } : {}),
        });
        const timer = setTimeout(
          () => done({ ok: false, outcome: 'tls:timeout', cause: 'no complete TLS handshake in time' }),
          Math.max(1, deadline - now()),
        );
        const onAbort = () => done({ ok: false, outcome: 'tls:timeout', cause: 'aborted during the TLS handshake' });
        signal.addEventListener('abort', onAbort, { once: true });
        let settled = false;
        function done(x: { ok: true; s: tls.TLSSocket } | { ok: false; outcome: string; cause: string }) {
          if (settled) return;
          settled = true;
          clearTimeout(timer);
          signal.removeEventListener('abort', onAbort);
          if (!x.ok) s.destroy();
          resolve(x);
        }
        s.once('secureConnect', () => done({ ok: true, s }));
        s.on('error', (e) => {
          const k = classifyTlsError(e);
          done({ ok: false, outcome: `tls:${k.outcome}`, cause: k.cause });
        });
        s.once('close', () => done({ ok: false, outcome: 'tls:reset', cause: 'the connection closed during the TLS handshake' }));
      });
      if (!r.ok) {
        c.socket.destroy();
        return { outcome: r.outcome, phase: 'tls', ms: null, cause: r.cause, timings };
      }
      timings.tlsHandshakeMs = now() - tStart;
      sock = r.s;
      if (o.verify) {
        const bad = certProblem(r.s, t.serverName);
        if (bad) {
          r.s.destroy();
          return { outcome: `tls:${bad.outcome}`, phase: 'tls', ms: null, cause: bad.cause, timings };
        }
      }
      const chosen = r.s.alpnProtocol;
      if (choice === 'h2' && chosen !== 'h2') {
        r.s.destroy();
        return {
          outcome: 'no-h2',
          phase: 'app',
          ms: null,
          timings,
          cause: `HTTP/2 was asked (--http2) and the server's ALPN chose ${chosen ? `"${chosen}"` : 'no protocol'}`,
        };
      }
      // What the handshake gave, on the result as `tls` (the check series of https checks read it).
      const peer = r.s.getPeerCertificate();
      const notAfter = peer && peer.valid_to ? new Date(peer.valid_to).toISOString() : undefined;
      const facts = { tls: { version: r.s.getProtocol(), alpn: chosen || null, ...(notAfter ? { certificate: { notAfter } } : {}) } };
      const withTls = (p: Promise<Attempt>) => p.then((a) => ({ ...a, facts: { ...a.facts, ...facts } }));
      if (chosen === 'h2') return withTls(h2(sock, t, o, signal, deadline, timings));
      return withTls(exchange(sock, t, o, signal, deadline, timings));
    } else if (choice === 'h2') return h2(sock, t, o, signal, deadline, timings);
    return exchange(sock, t, o, signal, deadline, timings);
  };
}

/** The certificate's problem as `conndx tls` names it (chain, then the server name), or null. */
function certProblem(s: tls.TLSSocket, serverName: string | undefined): { outcome: string; cause: string } | null {
  const e = s.authorizationError as unknown;
  const code = !e ? null : typeof e === 'string' ? e : ((e as { code?: string }).code ?? String(e));
  if (code && code !== 'ERR_TLS_CERT_ALTNAME_INVALID') return classifyCertError(code);
  if (serverName && isIP(serverName) === 0) {
    const peer = s.getPeerCertificate();
    const mismatch = peer && Object.keys(peer).length ? tls.checkServerIdentity(serverName, peer) : undefined;
    if (mismatch) return { outcome: 'cert-hostname-mismatch', cause: mismatch.message };
  }
  return null;
}

function h2(sock: net.Socket, t: HttpTarget, o: HttpProbeOptions, signal: AbortSignal, deadline: number, timings: Record<string, number>) {
  if (/[\s\x00-\x1f\x7f]/.test(t.path) || /[\s\x00-\x1f\x7f]/.test(t.hostHeader)) {
    sock.destroy();
    return Promise.resolve<Attempt>({
      outcome: 'error',
      phase: 'app',
      ms: null,
      cause: 'the HTTP path or host holds a control character or space: not sent',
    });
  }
  return exchangeH2(
    sock,
    {
      scheme: t.tls ? 'https' : 'http',
      authority: t.hostHeader,
      path: t.path,
      userAgent: o.userAgent,
      timeoutMs: o.timeoutMs,
      ...(o.expectStatus ? { expectStatus: o.expectStatus } : {}),
    },
    signal,
    deadline,
    timings,
  );
}

function exchange(
  sock: net.Socket,
  t: HttpTarget,
  o: HttpProbeOptions,
  signal: AbortSignal,
  deadline: number,
  timings: Record<string, number>,
): Promise<Attempt> {
  return new Promise<Attempt>((resolve) => {
    let settled = false;
    let buf = Buffer.alloc(0);
    let firstByteMs: number | null = null;
    const finish = (a: Attempt) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      signal.removeEventListener('abort', onAbort);
      sock.removeAllListeners('data');
      sock.on('error', () => {});
      sock.destroy();
      resolve({ ...a, timings: { ...timings, ...a.timings } });
    };
    const timer = setTimeout(
      () =>
        finish(
          firstByteMs === null
            ? { outcome: 'timeout', phase: 'app', ms: null, cause: `no response within ${Math.round(o.timeoutMs)} ms of the request` }
            : { outcome: 'malformed', phase: 'app', ms: null, cause: 'no complete status line in time' },
        ),
      Math.max(1, deadline - now()),
    );
    const onAbort = () => finish({ outcome: 'timeout', phase: 'app', ms: null, cause: 'aborted while waiting for the response' });
    signal.addEventListener('abort', onAbort, { once: true });
    const t0 = now();
    sock.on('data', (d: Buffer) => {
      if (firstByteMs === null) firstByteMs = now() - t0;
      buf = Buffer.concat([buf, d]);
      const eol = buf.indexOf('\r\n');
      if (eol < 0 && buf.length < 256) return;
      const line = buf.subarray(0, eol < 0 ? 256 : eol).toString('latin1');
      const m = /^HTTP\/(\d\.\d|\d) (\d{3})(?: |$)/.exec(line);
      if (!m)
        return finish({
          outcome: 'malformed',
          phase: 'app',
          ms: null,
          cause: `not an HTTP response: ${JSON.stringify(line.slice(0, 40))}`,
        });
      const status = Number(m[2]);
      const ok = statusExpected(status, o.expectStatus);
      finish({
        outcome: ok ? 'ok' : `http-${status}`,
        phase: 'app',
        ms: firstByteMs,
        tallies: { statuses: String(status), protocols: 'http/1.1' },
        facts: { statusLine: line.slice(0, 120), protocol: 'http/1.1' },
        ...(ok ? {} : { cause: line.slice(0, 120) }),
        detail: { status, protocol: 'http/1.1' },
      });
    });
    sock.once('end', () =>
      finish({ outcome: 'closed', phase: 'app', ms: null, cause: 'the server closed the connection (FIN) before a response' }),
    );
    sock.on('error', (e: NodeJS.ErrnoException) =>
      finish({
        outcome: e.code === 'ECONNRESET' ? 'reset' : 'error',
        phase: 'app',
        ms: null,
        cause: e.code ?? e.message,
      }),
    );
    const host = t.hostHeader;
    // The CLI refuses these; a request line or header with CR/LF would inject headers or a second request.
    if (/[\s\x00-\x1f\x7f]/.test(t.path) || /[\s\x00-\x1f\x7f]/.test(host)) {
      finish({ outcome: 'error', phase: 'app', ms: null, cause: 'the HTTP path or host holds a control character or space: not sent' });
      sock.destroy();
      return;
    }
    sock.write(`GET ${t.path} HTTP/1.1\r\nHost: ${host}\r\nUser-Agent: ${o.userAgent}\r\nAccept: */*\r\nConnection: close\r\n\r\n`);
  });
}
