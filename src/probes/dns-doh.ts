import http2 from 'node:http2';
import tls from 'node:tls';
import { now } from '../core/clock.js';
import { wellFormed } from './dns-wire.js';
import { connectTlsTimed, stampedQueryMs, type DotOptions } from './dns-dot.js';
import type { StampedSocket } from './tls-stamp.js';
import type { DnsExchange, DnsServer, ExchangeReply } from './dns.js';

/**
 * DNS over HTTPS (RFC 8484): the query as the body of a POST or as the
 * base64url `dns` parameter of a GET, `application/dns-message` both ways,
 * id 0 (§4.1). HTTP/2 through node's http2 when the server offers h2 in
 * ALPN; HTTP/1.1 otherwise (a small keep-alive client on the same TLS
 * socket). An HTTP status other than 200 is the outcome `http-<status>`.
 * With reuse (the default) one HTTP/2 connection per server carries every
 * query as its own stream; HTTP/1.1 keeps a pool, one request at a time on
 * each. The phases are timed apart: TCP connect, TLS handshake, and the
 * query (request written to the arrival of the response's last bytes,
 * stamped as they are read from the socket).
 */

export const DNS_MESSAGE = 'application/dns-message';

export interface DohOptions extends DotOptions {
  /** The https:// URL of the resolver, e.g. https://dns.example/dns-query. */
  url: string;
  method: 'GET' | 'POST';
  /** Offer only HTTP/1.1 in ALPN. */
  http1?: boolean;
}

type Result = { status: number; type: string | undefined; body: Buffer; at: number; sent: number } | { error: string; at: number };

interface H1Conn {
  socket: tls.TLSSocket;
  stamped: StampedSocket | undefined;
  dead: boolean;
}

/** One HTTP/1.1 request on a kept socket; reads Content-Length or chunked bodies. */
function h1Request(c: H1Conn, head: string, body: Buffer | null, timeoutMs: number, signal: AbortSignal): Promise<Result> {
  return new Promise((resolve) => {
    let buf = Buffer.alloc(0);
    let done = false;
    const finish = (r: Result) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      signal.removeEventListener('abort', onAbort);
      c.socket.off('data', onData);
      c.socket.off('close', onClose);
      resolve(r);
    };
    const timer = setTimeout(() => {
      c.dead = true;
      finish({ error: `timeout: no HTTP/1.1 response within ${Math.round(timeoutMs)} ms`, at: now() });
    }, timeoutMs);
    const onAbort = () => {
      c.dead = true;
      finish({ error: 'timeout: aborted', at: now() });
    };
    signal.addEventListener('abort', onAbort, { once: true });
    const onClose = () => {
      c.dead = true;
      finish({
        error: buf.length ? 'malformed: the connection closed inside a response' : 'network-error: the server closed the connection',
        at: now(),
      });
    };
    const onData = (d: Buffer) => {
      buf = Buffer.concat([buf, d]);
      const end = buf.indexOf('\r\n\r\n');
      if (end < 0) {
        if (buf.length > 65536) {
          c.dead = true;
          finish({ error: 'malformed: HTTP/1.1 headers over 64 KiB', at: now() });
        }
        return;
      }
      const lines = buf.subarray(0, end).toString('latin1').split('\r\n');
      const m = /^HTTP\/1\.[01] (\d{3})/.exec(lines[0] ?? '');
      if (!m) {
        c.dead = true;
        return finish({ error: `malformed: not an HTTP/1.1 status line: ${JSON.stringify((lines[0] ?? '').slice(0, 60))}`, at: now() });
      }
      const headers = new Map<string, string>();
      for (const l of lines.slice(1)) {
        const i = l.indexOf(':');
        if (i > 0) headers.set(l.slice(0, i).trim().toLowerCase(), l.slice(i + 1).trim());
      }
      const rest = buf.subarray(end + 4);
      let bodyOut: Buffer | null = null;
      if (/chunked/i.test(headers.get('transfer-encoding') ?? '')) {
        const parts: Buffer[] = [];
        let p = 0;
        for (;;) {
          const nl = rest.indexOf('\r\n', p);
          if (nl < 0) return;
          const size = parseInt(rest.subarray(p, nl).toString('latin1'), 16);
          if (!Number.isFinite(size)) {
            c.dead = true;
            return finish({ error: 'malformed: bad chunk size', at: now() });
          }
          if (size === 0) {
            if (rest.indexOf('\r\n', nl + 2) < 0) return;
            break;
          }
          if (rest.length < nl + 2 + size + 2) return;
          parts.push(rest.subarray(nl + 2, nl + 2 + size));
          p = nl + 2 + size + 2;
        }
        bodyOut = Buffer.concat(parts);
      } else if (headers.has('content-length')) {
        const n = Number(headers.get('content-length'));
        if (rest.length < n) return;
        bodyOut = Buffer.from(rest.subarray(0, n));
      } else {
        // Until close: no reuse.
        c.dead = true;
        c.socket.once('end', () =>
          finish({ status: Number(m[1]), type: headers.get('content-type'), body: buf.subarray(end + 4), at: now(), sent }),
        );
        return;
      }
      if (/close/i.test(headers.get('connection') ?? '')) c.dead = true;
      finish({ status: Number(m[1]), type: headers.get('content-type'), body: bodyOut, at: now(), sent });
    };
    c.socket.on('data', onData);
    c.socket.once('close', onClose);
    const sent = now();
    c.stamped?.markWrite();
    c.socket.write(body ? Buffer.concat([Buffer.from(head, 'latin1'), body]) : Buffer.from(head, 'latin1'));
  });
}

/** Resolves once a new client session is connected (or has failed, or `ms` passed: the request then says why). */
function sessionReady(session: http2.ClientHttp2Session, ms: number): Promise<void> {
  if (!session.connecting) return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      session.off('connect', done);
      session.off('error', done);
      session.off('close', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    session.once('connect', done);
    session.once('error', done);
    session.once('close', done);
  });
}

/** One request as an HTTP/2 stream. */
function h2Request(
  session: http2.ClientHttp2Session,
  headers: http2.OutgoingHttpHeaders,
  body: Buffer | null,
  timeoutMs: number,
  signal: AbortSignal,
): Promise<Result> {
  return new Promise((resolve) => {
    let done = false;
    let status = 0;
    let type: string | undefined;
    const chunks: Buffer[] = [];
    const finish = (r: Result) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      signal.removeEventListener('abort', onAbort);
      resolve(r);
    };
    let stream: http2.ClientHttp2Stream;
    const timer = setTimeout(() => {
      stream?.close(http2.constants.NGHTTP2_CANCEL);
      finish({ error: `timeout: no HTTP/2 response within ${Math.round(timeoutMs)} ms`, at: now() });
    }, timeoutMs);
    const onAbort = () => {
      stream?.close(http2.constants.NGHTTP2_CANCEL);
      finish({ error: 'timeout: aborted', at: now() });
    };
    signal.addEventListener('abort', onAbort, { once: true });
    const sent = now();
    try {
      stream = session.request(headers, { endStream: body === null });
    } catch (e) {
      return finish({ error: `network-error: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`, at: now() });
    }
    stream.on('response', (h) => {
      status = Number(h[':status']);
      type = h['content-type'] as string | undefined;
    });
    stream.on('data', (d: Buffer) => chunks.push(d));
    stream.on('end', () => finish({ status, type, body: Buffer.concat(chunks), at: now(), sent }));
    stream.on('error', (e: NodeJS.ErrnoException) => finish({ error: `network-error: ${e.code ?? e.message}`, at: now() }));
    stream.on('close', () => {
      if (!done)
        finish(
          status
            ? { status, type, body: Buffer.concat(chunks), at: now(), sent }
            : { error: 'network-error: stream closed without a response', at: now() },
        );
    });
    if (body) stream.end(body);
  });
}

export function openDoh(server: DnsServer, o: DohOptions): DnsExchange {
  const url = new URL(o.url);
  const context = tls.createSecureContext(o.ca ? { ca: o.ca } : {});
  const tlsOpts: DotOptions = {
    ...o,
    serverName: o.serverName ?? url.hostname.replace(/^\[|\]$/g, ''),
    alpn: o.http1 ? ['http/1.1'] : ['h2', 'http/1.1'],
  };
  const reuse = o.reuse !== false;
  const authority = url.host;
  let h2: { session: http2.ClientHttp2Session; stamped: StampedSocket | undefined; alive: boolean } | undefined;
  let h2Opening: Promise<unknown> | undefined;
  const h1Idle: H1Conn[] = [];
  const live = new Set<{ destroy(): void }>();
  let closed = false;

  const requestParts = (q: Buffer) => {
    if (o.method === 'GET') {
      const path = `${url.pathname}${url.search ? `${url.search}&` : '?'}dns=${q.toString('base64url')}`;
      return { path, body: null };
    }
    return { path: `${url.pathname}${url.search}`, body: q };
  };

  const exchange = async (q: Buffer, timeoutMs: number, signal: AbortSignal): Promise<ExchangeReply> => {
    q.writeUInt16BE(0, 0); // RFC 8484 §4.1: id 0 on every request
    const start = now();
    const deadline = start + timeoutMs;
    const timings: Record<string, number> = {};
    let facts: Record<string, unknown> | undefined;
    let fresh = false;
    let version: 'h2' | 'h1';
    let result: Result;
    const { path, body } = requestParts(q);

    // A kept HTTP/2 session carries every stream; a query that finds it opening waits for it.
    if (reuse && !h2?.alive && h2Opening) await h2Opening.catch(() => {});
    const h1 = (() => {
      let c = h1Idle.pop();
      while (c?.dead) c = h1Idle.pop();
      return c;
    })();
    let stamped: StampedSocket | undefined;
    if (reuse && h2?.alive) {
      version = 'h2';
      stamped = h2.stamped;
      stamped?.markWrite();
      result = await h2Request(
        h2.session,
        {
          ':method': o.method,
          ':path': path,
          accept: DNS_MESSAGE,
          ...(body ? { 'content-type': DNS_MESSAGE, 'content-length': body.length } : {}),
        },
        body,
        Math.max(1, deadline - now()),
        signal,
      );
    } else if (reuse && h1) {
      version = 'h1';
      stamped = h1.stamped;
      result = await runH1(h1, path, body, deadline, signal);
    } else {
      let opened!: () => void;
      const opening = new Promise<void>((r) => (opened = r));
      if (reuse) h2Opening = opening;
      const r = await connectTlsTimed(server, tlsOpts, context, Math.max(1, deadline - now()), signal);
      if (!r.ok) {
        opened();
        return {
          kind: 'error',
          outcome: r.outcome,
          cause: r.cause,
          local: r.local,
          phase: r.phase,
          at: now(),
          ...(r.tcpConnectMs !== undefined ? { timings: { tcpConnectMs: r.tcpConnectMs } } : {}),
          detail: { transport: 'doh' },
        };
      }
      fresh = true;
      timings.tcpConnectMs = r.tcpConnectMs;
      timings.tlsHandshakeMs = r.tlsHandshakeMs;
      if (r.tlsServerMs !== undefined) timings.tlsServerMs = r.tlsServerMs;
      facts = { tls: r.facts };
      stamped = r.stamped;
      if (r.socket.alpnProtocol === 'h2') {
        version = 'h2';
        const session = http2.connect(`https://${authority}`, { createConnection: () => r.socket });
        const entry = { session, stamped: r.stamped, alive: true };
        session.on('error', () => (entry.alive = false));
        session.on('goaway', () => (entry.alive = false));
        session.on('close', () => {
          entry.alive = false;
          live.delete(session);
        });
        live.add(session);
        if (reuse && !closed) h2 = entry;
        opened();
        // The session's own setup (its preface and SETTINGS, sent once it is connected) is not the
        // query's time: the query clock starts once the session can carry a request.
        await sessionReady(session, Math.max(1, deadline - now()));
        r.stamped?.markWrite();
        result = await h2Request(
          session,
          {
            ':method': o.method,
            ':path': path,
            accept: DNS_MESSAGE,
            ...(body ? { 'content-type': DNS_MESSAGE, 'content-length': body.length } : {}),
          },
          body,
          Math.max(1, deadline - now()),
          signal,
        );
        if (!reuse || closed) {
          // The session's teardown (GOAWAY both ways, close_notify) is work of this process: done before
          // the next query starts, so it does not run late the next connection's handshake or query
          // (at concurrency 1 with --no-reuse it otherwise overlaps the next ClientHello by a millisecond or more).
          const gone = new Promise<void>((r) => session.once('close', () => r()));
          session.close();
          await Promise.race([gone, new Promise<void>((r) => setTimeout(r, Math.min(1000, Math.max(1, deadline - now()))).unref())]);
        }
      } else {
        opened();
        version = 'h1';
        const c: H1Conn = { socket: r.socket, stamped: r.stamped, dead: false };
        r.socket.on('error', () => (c.dead = true));
        r.socket.on('close', () => live.delete(r.socket));
        live.add(r.socket);
        result = await runH1(c, path, body, deadline, signal);
      }
    }
    const base = {
      timings,
      ...(facts ? { facts } : {}),
      counters: { connections: fresh ? 1 : 0 },
      detail: { transport: 'doh', http: version, reused: !fresh },
    };
    if ('error' in result) {
      const [kind, ...why] = result.error.split(': ');
      return {
        kind: 'error',
        outcome: kind ?? 'network-error',
        cause: why.join(': ') || result.error,
        phase: 'dns',
        at: result.at,
        ...base,
      };
    }
    // Timed from the request's bytes handed to the socket (HTTP/2 writes a request's frames on a later
    // turn of the loop, HTTP/1.1's may wait behind our Finished's write) to the reply's read stamp.
    timings.queryMs = stampedQueryMs(stamped, result.sent, result.at, true);
    if (result.status !== 200) {
      return {
        kind: 'error',
        outcome: `http-${result.status}`,
        cause: `HTTP ${result.status} from ${o.url}`,
        phase: 'dns',
        at: result.at,
        ...base,
      };
    }
    if ((result.type ?? '').split(';')[0]!.trim().toLowerCase() !== DNS_MESSAGE) {
      return {
        kind: 'error',
        outcome: 'malformed',
        cause: `HTTP 200 with content-type ${JSON.stringify(result.type ?? '')}, not ${DNS_MESSAGE}`,
        phase: 'dns',
        at: result.at,
        ...base,
      };
    }
    return { kind: 'message', buf: result.body, at: result.at, valid: wellFormed(result.body), ...base };
  };

  const runH1 = async (c: H1Conn, path: string, body: Buffer | null, deadline: number, signal: AbortSignal): Promise<Result> => {
    const head =
      `${o.method} ${path} HTTP/1.1\r\nHost: ${authority}\r\nAccept: ${DNS_MESSAGE}\r\n` +
      (body ? `Content-Type: ${DNS_MESSAGE}\r\nContent-Length: ${body.length}\r\n` : '') +
      `Connection: ${reuse ? 'keep-alive' : 'close'}\r\n\r\n`;
    const r = await h1Request(c, head, body, Math.max(1, deadline - now()), signal);
    if (reuse && !c.dead && !closed) h1Idle.push(c);
    else {
      c.socket.destroy();
      c.stamped?.socket.destroy();
    }
    return r;
  };

  return {
    transport: 'doh',
    exchange,
    close() {
      closed = true;
      h2?.session.close();
      for (const x of live) x.destroy();
      live.clear();
      for (const c of h1Idle) c.socket.destroy();
      h1Idle.length = 0;
    },
  };
}
