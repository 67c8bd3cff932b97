import net from 'node:net';
import tls from 'node:tls';
import { now } from '../core/clock.js';
import { certificateFacts, type CertificateFacts } from './cert.js';
import { classifyTcpError } from './classify.js';
import { classifyCertError, classifyTlsError } from './classify-tls.js';
import { wellFormed } from './dns-wire.js';
import type { DnsExchange, DnsServer, ExchangeReply } from './dns.js';
import { localErrorCause } from './local-errors.js';
import { StampedSocket } from './tls-stamp.js';

/**
 * DNS over TLS (RFC 7858): the RFC 1035 §4.2.2 framing (a two-byte length
 * before each message) inside a TLS connection to port 853. Connections are
 * kept and reused by default, one query at a time on each, as many as the
 * run has in flight (RFC 7858 §3.4); `reuse: false` opens one per query so
 * every handshake is timed. The phases are timed apart: TCP connect (the SYN
 * sent to the connection established), TLS handshake (ClientHello written to
 * handshake complete, with its server part: to the arrival of the bytes that
 * completed it), query (written to the arrival of the reply's last bytes,
 * stamped as they are read from the socket: see StampedSocket). The stamps
 * are taken with `reuse: false`; kept connections read the clock in the
 * callbacks (the handshake from tls.connect's return, the query written to
 * reply read).
 */

export const DOT_DEFAULT_PORT = 853;

export interface DotOptions {
  /** SNI and the name the certificate must hold; an address literal is checked against the IP SANs. */
  serverName?: string;
  /** PEM CA certificates to trust instead of the default roots. */
  ca?: string;
  /** Report certificate problems without failing on them. */
  insecure?: boolean;
  /** Keep connections for later queries (default true). */
  reuse?: boolean;
  /** ALPN to offer (RFC 7858 names "dot"). */
  alpn?: string[];
}

/** What `conndx tls` says of a connection, as the result's `tls` field. */
export interface TlsConnectionFacts {
  version: string | null;
  cipher: string | null;
  alpn: string | null;
  certificate?: CertificateFacts;
  certProblem?: { outcome: string; cause: string };
}

interface Conn {
  socket: tls.TLSSocket;
  stamped?: StampedSocket;
  /** Bytes read and not yet a whole message. */
  buf: Buffer;
  waiting?: (msg: Buffer | null, err?: { outcome: string; cause: string; local?: boolean }) => void;
  dead: boolean;
}

type Fail = { outcome: string; cause: string; local?: boolean; phase: 'tcp' | 'tls' | 'dns' };

export type TlsConnected =
  | {
      ok: true;
      socket: tls.TLSSocket;
      /** The layer between TCP and TLS that stamps the server's bytes as they are read and our request's as they are written. */
      stamped?: StampedSocket;
      tcpConnectMs: number;
      tlsHandshakeMs: number;
      /** ClientHello written → the bytes that completed the handshake read (absent if none were stamped). */
      tlsServerMs?: number;
      facts: TlsConnectionFacts;
    }
  | ({ ok: false } & Fail & { tcpConnectMs?: number });

/**
 * Opens TCP then TLS and judges the certificate as `conndx tls` does;
 * resolves with the socket, the two phase times and the connection's facts,
 * or why it failed (`tcp:<outcome>` in phase tcp, a TLS outcome in phase tls).
 */
export function connectTlsTimed(
  server: DnsServer,
  o: DotOptions,
  context: tls.SecureContext,
  timeoutMs: number,
  signal: AbortSignal,
): Promise<TlsConnected> {
  return new Promise<TlsConnected>((resolve) => {
    let t0 = now();
    let tcpConnectMs: number | undefined;
    let settled = false;
    const raw = net.connect({ host: server.address, port: server.port });
    // As the tcp probe does: net.connect to an IP literal calls connect() on the next tick; a tick
    // queued now runs right after it, so the connect clock starts when the SYN left, not before the
    // socket's setup (0.3-1 ms of this process's work, none of it on the wire).
    process.nextTick(() => {
      if (!raw.destroyed && raw.connecting) t0 = now();
    });
    raw.setNoDelay(true);
    let s: tls.TLSSocket | undefined;
    let stamped: StampedSocket | undefined;
    let endFirst = false;
    const finish = (r: TlsConnected) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      signal.removeEventListener('abort', onAbort);
      if (!r.ok) {
        s?.destroy();
        raw.destroy();
      }
      resolve(r);
    };
    const timer = setTimeout(
      () =>
        finish({
          ok: false,
          outcome: tcpConnectMs === undefined ? 'tcp:timeout' : 'timeout',
          phase: tcpConnectMs === undefined ? 'tcp' : 'tls',
          cause:
            tcpConnectMs === undefined ? `no TCP connection within ${timeoutMs} ms` : `no complete TLS handshake within ${timeoutMs} ms`,
          ...(tcpConnectMs === undefined ? {} : { tcpConnectMs }),
        }),
      timeoutMs,
    );
    const onAbort = () => finish({ ok: false, outcome: 'timeout', phase: 'tcp', cause: 'aborted' });
    signal.addEventListener('abort', onAbort, { once: true });
    raw.once('error', (e: NodeJS.ErrnoException) => {
      if (tcpConnectMs !== undefined) return; // TLS reports it
      const local = localErrorCause(e);
      if (local) return finish({ ok: false, outcome: 'error', phase: 'tcp', cause: local, local: true });
      const c = classifyTcpError(e);
      finish({ ok: false, outcome: `tcp:${c.outcome}`, phase: 'tcp', cause: c.cause, local: c.local });
    });
    raw.once('connect', () => {
      const connected = now();
      tcpConnectMs = connected - t0;
      const name = o.serverName ?? server.address;
      // With --no-reuse every connection's phases are timed against its packets: the TLS socket runs over
      // the stamping layer. Kept connections carry the run's queries natively: the layer is JavaScript
      // between TCP and TLS (a DoH run at 100 streams over it answered 694-697 queries/s where the native
      // path answered 1,097-1,164 in the run before; bench/dns/wire-agreement-2026-12-02.txt).
      stamped = o.reuse === false ? new StampedSocket(raw) : undefined;
      s = tls.connect({
        socket: stamped ?? raw,
        secureContext: context,
        ...(net.isIP(name) === 0 ? { servername: name } : {}),
        ...(o.alpn?.length ? { ALPNProtocols: o.alpn } : {}),
        rejectUnauthorized: false,
        checkServerIdentity: () => undefined,
      });
      const hello = now();
      // Node's own identity check builds getPeerCertificate(true) (the chain linked through the trust
      // store) inside the handshake, before our Finished is written, only to hand it to the
      // checkServerIdentity skipped here: an empty object until 'secureConnect' (as the tls probe does).
      s.getPeerCertificate = noChain;
      s.once('end', () => {
        endFirst = true;
      });
      s.once('error', (e) => {
        const c = classifyTlsError(e, { endFirst });
        finish({ ok: false, outcome: c.outcome, phase: 'tls', cause: c.cause, local: c.local, tcpConnectMs: tcpConnectMs! });
      });
      // Our Finished, queued by OpenSSL, is written only when this callback returns: the clock
      // stops here and the certificate work waits a turn of the loop (as the tls probe does), so
      // the server sees the Finished when we completed and a capture shows the time reported.
      s.once('secureConnect', () => {
        // The handshake is timed from the ClientHello's write to the socket, stamped by the layer (inside
        // tls.connect, or a moment after it returned), not from the call's return.
        const first = stamped?.firstWriteAt ?? -1;
        const start = first >= connected ? first : hello;
        const tlsHandshakeMs = now() - start;
        // The bytes that completed the handshake (the server's Finished) were the ones TLS was handed last.
        const last = stamped?.handedAt ?? -1;
        const tlsServerMs = last >= start ? Math.min(tlsHandshakeMs, last - start) : undefined;
        delete (s as Partial<Pick<tls.TLSSocket, 'getPeerCertificate'>>).getPeerCertificate;
        setImmediate(() => {
          if (!settled) secured(tlsHandshakeMs, tlsServerMs);
        });
      });
      const secured = (tlsHandshakeMs: number, tlsServerMs: number | undefined) => {
        const sock = s!;
        const authCode = sock.authorized ? null : String((sock.authorizationError as unknown as string | Error | null) ?? 'UNKNOWN');
        const cf = certificateFacts(
          { leaf: () => sock.getPeerCertificate(false), chain: () => sock.getPeerCertificate(true), authCode },
          { ocspStapled: false },
        );
        const facts: TlsConnectionFacts = {
          version: sock.getProtocol() ?? null,
          cipher: sock.getCipher()?.name ?? null,
          alpn: sock.alpnProtocol || null,
          ...(cf ? { certificate: cf.facts } : {}),
        };
        let problem: { outcome: string; cause: string } | undefined;
        if (authCode) problem = classifyCertError(authCode, cf?.shape);
        else if (cf) {
          const h = cf.hostnameError(name);
          if (h) problem = { outcome: 'cert-hostname-mismatch', cause: h };
        }
        if (problem) {
          facts.certProblem = problem;
          if (!o.insecure) {
            return finish({ ok: false, outcome: problem.outcome, phase: 'tls', cause: problem.cause, tcpConnectMs: tcpConnectMs! });
          }
        }
        sock.removeAllListeners('error');
        sock.removeAllListeners('end');
        finish({
          ok: true,
          socket: sock,
          ...(stamped ? { stamped } : {}),
          tcpConnectMs: tcpConnectMs!,
          tlsHandshakeMs,
          ...(tlsServerMs !== undefined ? { tlsServerMs } : {}),
          facts,
        });
      };
    });
  });
}

const noChain = (() => ({})) as unknown as tls.TLSSocket['getPeerCertificate'];

/**
 * The query's time on a stamped connection: from `sent` (just before the query is written; with
 * `written`, the first write to the socket after `markWrite()`: a query queued behind an earlier
 * write, or an HTTP/2 request whose frames node writes on a later turn of the loop) to the
 * read stamp of the chunk TLS was handed last before `at` (the reply's bytes arriving, before TLS and
 * this process's loop handled them); `at - sent` when no read was stamped in between.
 */
export function stampedQueryMs(stamped: StampedSocket | undefined, sent: number, at: number, written = false): number {
  if (!stamped) return at - sent;
  const out = written && stamped.writtenAt >= sent ? stamped.writtenAt : sent;
  const back = stamped.handedAt;
  return back > out && back <= at ? back - out : at - sent;
}

/** The DoT framing on a connected socket. */
function wrap(sock: tls.TLSSocket, stamped: StampedSocket | undefined): Conn {
  const conn: Conn = { socket: sock, stamped, buf: Buffer.alloc(0), dead: false };
  sock.on('data', (d: Buffer) => onData(conn, d));
  const gone = (why: string) => {
    conn.dead = true;
    const w = conn.waiting;
    conn.waiting = undefined;
    w?.(null, { outcome: conn.buf.length ? 'malformed' : 'network-error', cause: why });
  };
  sock.on('end', () => gone('the server closed the DoT connection'));
  sock.on('close', () => gone('the DoT connection closed'));
  sock.on('error', (e: NodeJS.ErrnoException) => gone(e.code ?? e.message));
  return conn;
}

function onData(c: Conn, d: Buffer): void {
  c.buf = c.buf.length ? Buffer.concat([c.buf, d]) : d;
  while (c.buf.length >= 2) {
    const need = c.buf.readUInt16BE(0);
    if (c.buf.length < 2 + need) return;
    const msg = Buffer.from(c.buf.subarray(2, 2 + need));
    c.buf = c.buf.subarray(2 + need);
    const w = c.waiting;
    c.waiting = undefined;
    w?.(msg);
  }
}

/** Writes one framed query on `c` and waits for one framed reply. */
function ask(c: Conn, q: Buffer, timeoutMs: number, signal: AbortSignal): Promise<{ msg: Buffer; at: number } | Fail> {
  return new Promise((resolve) => {
    let done = false;
    const finish = (r: { msg: Buffer; at: number } | Fail) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      signal.removeEventListener('abort', onAbort);
      c.waiting = undefined;
      resolve(r);
    };
    const timer = setTimeout(() => {
      c.dead = true; // a late reply would answer the next query on this connection
      finish({ outcome: 'timeout', phase: 'dns', cause: `no reply over DoT within ${Math.round(timeoutMs)} ms` });
    }, timeoutMs);
    const onAbort = () => {
      c.dead = true;
      finish({ outcome: 'timeout', phase: 'dns', cause: 'aborted' });
    };
    signal.addEventListener('abort', onAbort, { once: true });
    c.waiting = (msg, err) => {
      const at = now();
      if (msg) finish({ msg, at });
      else finish({ outcome: err?.outcome ?? 'network-error', phase: 'dns', cause: err?.cause ?? 'connection lost', local: err?.local });
    };
    const framed = Buffer.allocUnsafe(2 + q.length);
    framed.writeUInt16BE(q.length, 0);
    q.copy(framed, 2);
    c.stamped?.markWrite();
    c.socket.write(framed);
  });
}

/** A DoT exchange to one server: a pool of idle connections when reusing. */
export function openDot(server: DnsServer, o: DotOptions): DnsExchange & { opened(): number } {
  const context = tls.createSecureContext(o.ca ? { ca: o.ca } : {});
  o = { alpn: ['dot'], ...o };
  const idle: Conn[] = [];
  const all = new Set<Conn>();
  const reuse = o.reuse !== false;
  let opened = 0;
  let closed = false;

  const release = (c: Conn) => {
    if (!reuse || c.dead || closed) {
      all.delete(c);
      c.socket.end();
      c.socket.destroy();
      c.stamped?.socket.destroy();
      return;
    }
    idle.push(c);
  };

  const exchange = async (q: Buffer, timeoutMs: number, signal: AbortSignal): Promise<ExchangeReply> => {
    const start = now();
    const deadline = start + timeoutMs;
    // A kept connection the server has since closed fails at once: try it, then a new one.
    for (;;) {
      let c = idle.pop();
      while (c && c.dead) {
        all.delete(c);
        c = idle.pop();
      }
      const timings: Record<string, number> = {};
      let facts: Record<string, unknown> | undefined;
      let fresh = false;
      if (!c) {
        const r = await connectTlsTimed(server, o, context, Math.max(1, deadline - now()), signal);
        if (!r.ok) {
          return {
            kind: 'error',
            outcome: r.outcome,
            cause: r.cause,
            local: r.local,
            phase: r.phase,
            at: now(),
            ...(r.tcpConnectMs !== undefined ? { timings: { tcpConnectMs: r.tcpConnectMs } } : {}),
            detail: { transport: 'dot' },
          };
        }
        opened++;
        fresh = true;
        c = wrap(r.socket, r.stamped);
        all.add(c);
        timings.tcpConnectMs = r.tcpConnectMs;
        timings.tlsHandshakeMs = r.tlsHandshakeMs;
        if (r.tlsServerMs !== undefined) timings.tlsServerMs = r.tlsServerMs;
        facts = { tls: r.facts };
        if (closed) c.socket.destroy();
      }
      const sent = now();
      const got = await ask(c, q, Math.max(1, deadline - sent), signal);
      if ('msg' in got) {
        timings.queryMs = stampedQueryMs(c.stamped, sent, got.at, true);
        release(c);
        return {
          kind: 'message',
          buf: got.msg,
          at: got.at,
          valid: wellFormed(got.msg),
          timings,
          ...(facts ? { facts } : {}),
          counters: { connections: fresh ? 1 : 0 },
          detail: { reused: !fresh },
        };
      }
      c.dead = true;
      release(c);
      if (!fresh && got.outcome === 'network-error' && now() < deadline) continue;
      return {
        kind: 'error',
        outcome: got.outcome,
        cause: got.cause,
        local: got.local,
        phase: 'dns',
        at: now(),
        timings,
        counters: { connections: fresh ? 1 : 0 },
      };
    }
  };

  return {
    transport: 'dot',
    exchange,
    opened: () => opened,
    close() {
      closed = true;
      for (const c of all) {
        c.socket.destroy();
        c.stamped?.socket.destroy();
      }
      all.clear();
      idle.length = 0;
    },
  };
}
