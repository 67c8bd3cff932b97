import { isIP } from 'node:net';
import * as tls from 'node:tls';
import { now } from '../core/clock.js';
import { certificateFacts, trustedBy, type CertificateFacts } from './cert.js';
import { classifyCertError, classifyTlsError } from './classify-tls.js';
import { sniffPlaintextFrom } from './sniff.js';
import { StampedSocket } from './tls-stamp.js';
import { openTlsPath, type TlsPathOptions } from './tls-path.js';
import type { ProxyConfig } from './proxy.js';
import type { StarttlsProtocol } from './starttls.js';
import type { Attempt, Phase, Probe, TlsOutcome } from '../core/types.js';

import { TLS_VERSIONS, type TlsVersion } from '../core/tls.js';
export { TLS_VERSIONS, type TlsVersion };

export interface TlsTarget {
  /** As the user wrote it. */
  key: string;
  /** IP literal to connect to (through a proxy: the host CONNECT names, possibly a name the proxy resolves). */
  host: string;
  port: number;
  /** Name sent as SNI and checked against the certificate; without it no SNI is sent and the address is checked. */
  serverName?: string;
  /** An HTTP CONNECT proxy to tunnel through (phases proxy and tunnel), chosen per target (NO_PROXY). */
  proxy?: ProxyConfig;
}

export interface TlsProbeOptions {
  timeoutMs: number;
  family?: 4 | 6;
  /** ALPN protocols to offer, in order. */
  alpn?: string[];
  /** PEM CA certificates to trust instead of the default roots. */
  ca?: string | string[];
  /** PEM client certificate (with its chain) and key, for servers that ask for one. */
  cert?: string;
  key?: string;
  /** Report certificate problems without failing on them. */
  insecure?: boolean;
  minVersion?: TlsVersion;
  maxVersion?: TlsVersion;
  /** A second handshake per attempt, resuming the first one's session. */
  resume?: boolean;
  /** The plaintext upgrade before the handshake (phase starttls). */
  starttls?: StarttlsProtocol;
}

/** The contract's `negotiated` object. */
export interface Negotiated {
  version: string | null;
  cipher: string | null;
  /** Key-exchange group, e.g. X25519, P-256 (null when the exchange used none). */
  group: string | null;
  alpn: string | null;
  resumed: boolean;
}

export interface CertProblem {
  outcome: TlsOutcome;
  cause: string;
}

/** One TCP connect plus one TLS handshake. */
export interface HandshakeResult {
  outcome: TlsOutcome;
  phase: Phase;
  /** SYN → established. */
  tcpConnectMs: number | null;
  /** The phases before the handshake other than tcp (proxyConnectMs, tunnelMs, starttlsMs). */
  timings?: Record<string, number>;
  /** Facts of the way to the handshake (proxyStatus). */
  pathDetail?: Record<string, unknown>;
  /** Counted into the result: proxyStatuses, starttlsReplies. */
  pathTallies?: Record<string, string>;
  /** ClientHello written → handshake complete (set when the handshake completed, even if the certificate then failed). */
  ms: number | null;
  /**
   * The server's part of `ms`: ClientHello written → the bytes that completed the handshake (its
   * Finished flight) read from the socket, before OpenSSL processed them. `ms - serverMs` is this
   * client's own processing of that flight (and, in TLS 1.2, of the first one too).
   */
  serverMs?: number;
  /** The tls.connect call: building and writing the ClientHello (not in `ms`; curl's appconnect − connect includes it). */
  clientHelloMs?: number;
  cause?: string;
  local?: boolean;
  negotiated?: Negotiated;
  certificate?: CertificateFacts;
  certProblem?: CertProblem;
  /** Session to resume (TLS 1.3: the first ticket; TLS 1.2: the session). */
  session?: Buffer;
  /** This side's TCP port toward the server (not through a proxy). */
  localPort?: number;
}

interface HandshakeSetup {
  context: tls.SecureContext;
  alpn?: string[];
  insecure: boolean;
  family?: 4 | 6;
  /** Whether a certificate is in the trust store (certificate.chain[].source). */
  trusted?: (fingerprint256: string) => boolean;
  /** A STARTTLS dialog before the ClientHello (the proxy is the target's). */
  path?: TlsPathOptions;
  /**
   * Keep the session for a resumed handshake. Only then does the probe
   * listen for 'session': with a listener, Node serialises every ticket the
   * server sends into a Buffer for JavaScript (about 5% of a handshake's CPU).
   */
  wantSession?: boolean;
}

const noChain = (() => ({})) as unknown as tls.TLSSocket['getPeerCertificate'];

/** No identity check inside Node: the probe judges the chain itself so certificate facts are always there. */
const skipIdentity = (): undefined => undefined;

function codeOfAuthError(e: unknown): string | null {
  if (!e) return null;
  if (typeof e === 'string') return e;
  return (e as { code?: string }).code ?? (e as Error).message ?? String(e);
}

/**
 * Connects over TCP (or through a proxy, then STARTTLS when asked), then runs one TLS handshake on that socket. The
 * handshake is timed from the return of tls.connect on the connected socket
 * (the ClientHello has been written by then) to 'secureConnect'. Never
 * throws for a network outcome.
 */
export async function handshakeOnce(
  t: TlsTarget,
  setup: HandshakeSetup,
  signal: AbortSignal,
  deadline: number,
  session?: Buffer,
): Promise<HandshakeResult> {
  const path = { family: setup.family, ...setup.path, ...(t.proxy ? { proxy: t.proxy } : {}) };
  const way = await openTlsPath(t.host, t.port, path, signal, deadline, now);
  const before = {
    timings: way.timings,
    ...(way.localPort !== undefined ? { localPort: way.localPort } : {}),
    ...(way.detail ? { pathDetail: way.detail } : {}),
    ...(way.tallies ? { pathTallies: way.tallies } : {}),
  };
  if (way.outcome !== 'ok' || !way.socket) {
    return {
      outcome: way.outcome,
      phase: way.phase,
      tcpConnectMs: way.tcpConnectMs,
      ms: null,
      cause: way.cause,
      local: way.local,
      ...before,
    };
  }
  const socket = way.socket;
  const tcpConnectMs = way.tcpConnectMs;
  const remaining = deadline - now();
  if (remaining <= 0 || signal.aborted) {
    socket.destroy();
    return {
      outcome: 'timeout',
      phase: 'tls',
      tcpConnectMs,
      ms: null,
      cause: `no time left for the handshake after the ${way.phase} phase`,
      ...before,
    };
  }

  return new Promise<HandshakeResult>((resolve) => {
    let endFirst = false;
    let ocsp = false;
    let ticket: Buffer | undefined;
    let done = false;
    let ms: number | null = null;
    let ok: HandshakeResult | undefined;
    let settle: NodeJS.Timeout | undefined;
    let s: tls.TLSSocket;
    // Set at 'secureConnect' until the handshake is judged (below).
    let secured = false;
    const whenSecured = () => {
      if (secured && !ok && !done) judgeSecured();
    };

    const finish = (r: HandshakeResult, politely = false) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      if (settle) clearTimeout(settle);
      signal.removeEventListener('abort', onAbort);
      if (politely && s && !s.destroyed) {
        // Our Finished may still sit in the write queue: destroying now would
        // drop it, and the server would log an aborted handshake ("peer
        // closed connection in SSL handshake") for every probe. Close
        // politely (close_notify, then FIN) once that is written; the
        // attempt is over already.
        const close = () => {
          const gone = () => {
            s.destroy();
            socket.destroy();
          };
          // Our FIN goes out before we let go: a session ticket that still arrives is then
          // answered by a RST after our FIN, which reads as our own close (Zeek: SF) in a
          // capture, not as an abort of a healthy connection.
          if (!socket.destroyed && socket.writable) socket.end(gone);
          else if (!socket.destroyed && socket.writableEnded && !socket.writableFinished) socket.once('finish', gone);
          else gone();
        };
        s.once('finish', close);
        setTimeout(close, 2000).unref();
        s.end();
      } else {
        s?.destroy();
        socket.destroy();
      }
      const r2 = { ...r, ...before };
      resolve(helloMs === undefined ? r2 : { ...r2, clientHelloMs: helloMs });
    };
    const timer = setTimeout(() => {
      whenSecured();
      if (ok) return finish(ok);
      finish({
        outcome: 'timeout',
        phase: 'tls',
        tcpConnectMs,
        ms: null,
        certificate: undefined,
        cause: `no complete handshake within ${Math.round(remaining)} ms (the server did not answer the ClientHello or stalled)`,
      });
    }, remaining);
    const onAbort = () => {
      whenSecured();
      finish(ok ?? { outcome: 'timeout', phase: 'tls', tcpConnectMs, ms: null, cause: 'aborted during the handshake' });
    };
    signal.addEventListener('abort', onAbort, { once: true });

    // The server's bytes are stamped as they are read, before OpenSSL: the handshake splits there.
    const stamped = new StampedSocket(socket);
    let serverMs: number | undefined;
    let t0 = now();
    let helloMs: number | undefined;
    try {
      // requestOCSP is a TLSSocket option that tls.connect passes on (missing from @types/node's ConnectionOptions).
      const opts: tls.ConnectionOptions & { requestOCSP: boolean } = {
        socket: stamped,
        secureContext: setup.context,
        ...(t.serverName && isIP(t.serverName) === 0 ? { servername: t.serverName } : {}),
        ...(setup.alpn?.length ? { ALPNProtocols: setup.alpn } : {}),
        ...(session ? { session } : {}),
        rejectUnauthorized: false,
        checkServerIdentity: skipIdentity,
        requestOCSP: true,
      };
      s = tls.connect(opts);
      // On a connected socket tls.connect writes the ClientHello before it
      // returns (TLSSocket._start → SSL_do_handshake → the TCP handle's
      // immediate write; bytesWritten is already the ClientHello's size):
      // the handshake is timed from here, ClientHello sent.
      const sent = now();
      helloMs = sent - t0;
      t0 = sent;
      // Node's own identity check (onConnectSecure in lib/_tls_wrap.js) builds
      // getPeerCertificate(true), the whole chain linked through the trust
      // store, on every verified handshake, only to pass it to
      // checkServerIdentity, which this probe skips: about 1 ms of CPU per
      // handshake, more than the handshake's own. Hand it an empty object
      // until 'secureConnect', where the probe reads what it needs.
      s.getPeerCertificate = noChain;
    } catch (e) {
      const c = classifyTlsError(e);
      finish({ outcome: c.outcome, phase: 'tls', tcpConnectMs, ms: null, cause: c.cause, local: c.local || undefined });
      return;
    }
    s.on('end', () => {
      whenSecured();
      endFirst = true;
      // A FIN after a completed handshake is the server's business, not a failed handshake.
      if (ok) finish(ok);
    });
    s.on('OCSPResponse', (resp: Buffer | null) => {
      ocsp = Boolean(resp && resp.length > 0);
    });
    if (setup.wantSession) {
      s.on('session', (buf: Buffer) => {
        ticket ??= buf;
        if (ok) finish({ ...ok, session: ticket }, true);
      });
    }
    s.on('error', (e: Error) => {
      whenSecured();
      const c = classifyTlsError(e, { endFirst });
      // An alert after 'secureConnect' fails the handshake (TLS 1.3: the
      // server judges the client's certificate after its own Finished); a
      // reset or close after it does not: the handshake had completed.
      if (ok && !c.outcome.startsWith('alert:')) return finish(ok);
      finish({
        outcome: c.outcome,
        phase: 'tls',
        tcpConnectMs,
        ms: null,
        cause: c.cause,
        local: c.local || undefined,
        certificate: ok?.certificate,
      });
    });
    s.on('close', () => {
      whenSecured();
      finish(
        ok ?? {
          outcome: endFirst ? 'closed' : 'reset',
          phase: 'tls',
          tcpConnectMs,
          ms: null,
          cause: 'the connection closed before the handshake completed',
        },
      );
    });
    // The handshake is complete at 'secureConnect'; our Finished, queued by
    // OpenSSL, is written only when that callback returns. So the clock stops
    // there and the bookkeeping (certificate facts, negotiated values) waits
    // one turn of the loop, or until an event of this socket needs it: the
    // server then sees our Finished when we completed, and a capture of the
    // run shows the handshake time conndx reports.
    s.once('secureConnect', () => {
      ms = now() - t0;
      // The bytes that completed the handshake (the server's Finished) were the last read before this.
      if (stamped.lastReadAt >= t0) serverMs = Math.min(ms, stamped.lastReadAt - t0);
      secured = true;
      setImmediate(whenSecured);
    });
    const judgeSecured = () => {
      secured = false;
      delete (s as Partial<Pick<tls.TLSSocket, 'getPeerCertificate'>>).getPeerCertificate;
      const version = s.getProtocol();
      const cipher = s.getCipher();
      const eph = s.getEphemeralKeyInfo() as { name?: string; type?: string } | null;
      const negotiated: Negotiated = {
        version,
        cipher: cipher?.standardName ?? cipher?.name ?? null,
        group: eph && 'name' in eph && eph.name ? eph.name : (eph?.type ?? null),
        alpn: s.alpnProtocol || null,
        resumed: s.isSessionReused(),
      };
      const authCode = codeOfAuthError(s.authorizationError);
      // Not getPeerX509Certificate(): on Node 20 it takes the peer certificate
      // out of the socket, and getPeerCertificate() returns {} after it.
      const cf = certificateFacts(
        {
          leaf: () => s.getPeerCertificate(false),
          chain: () => s.getPeerCertificate(true),
          authCode,
          trusted: setup.trusted,
        },
        { ocspStapled: ocsp },
      );
      let problem: CertProblem | undefined;
      if (!cf && negotiated.resumed) {
        // A resumed session carries no certificate: it was judged in the handshake that made the session.
      } else if (!cf) {
        problem = { outcome: 'cert-untrusted', cause: 'the server sent no certificate' };
      } else if (authCode && authCode !== 'ERR_TLS_CERT_ALTNAME_INVALID') {
        problem = classifyCertError(authCode, cf.shape);
      } else {
        const mismatch = cf.hostnameError(t.serverName ?? t.host);
        if (mismatch) problem = { outcome: 'cert-hostname-mismatch', cause: mismatch };
      }
      const failed = problem && !setup.insecure;
      ok = {
        outcome: failed ? problem!.outcome : 'ok',
        phase: 'tls',
        tcpConnectMs,
        ms,
        ...(serverMs !== undefined ? { serverMs } : {}),
        cause: failed ? problem!.cause : undefined,
        negotiated,
        certificate: cf?.facts,
        certProblem: problem,
      };
      if (failed) return finish(ok);
      // TLS 1.3: the server judges a client certificate after its own
      // Finished, so it may still refuse us (alert certificate_required,
      // bad_certificate …), and its session tickets arrive now. Only a server
      // that asked for a certificate can refuse one: the client computes
      // shared signature algorithms from a CertificateRequest and from
      // nothing else, so without one there is nothing to wait for. Otherwise
      // wait for an alert, a close or the first ticket (the server sends it
      // once it accepted us), for about one more round trip.
      if (version === 'TLSv1.3' && !ticket) {
        const certRequested = s.getSharedSigalgs().length > 0;
        if (certRequested && !setup.wantSession) {
          // The server judges our certificate (or its absence) when it reads
          // our Finished, and answers that before anything we send after it.
          // So close now (close_notify): its alert, or its own close, says
          // which, however long a busy server takes. A guessed wait of a round
          // trip or two called a refusal that came late "ok".
          s.end();
          settle = setTimeout(() => finish(ok!, true), Math.max(0, deadline - now()));
          return;
        }
        const wait = certRequested || setup.wantSession ? Math.min(deadline - now(), Math.max(20, 2 * ms!)) : 0;
        if (wait > 0) {
          if (!setup.wantSession) s.once('session', () => finish(ok!, true));
          settle = setTimeout(() => finish(ok!, true), wait);
          return;
        }
      }
      finish(setup.wantSession ? { ...ok, session: ticket ?? s.getSession() } : ok, true);
    };
  });
}

/** What an attempt records from one handshake. */
function toAttempt(h: HandshakeResult, extra: { resumed?: HandshakeResult; resumeWanted: boolean }): Attempt {
  const r = extra.resumed;
  const failedSecond = r && r.outcome !== 'ok';
  const outcome = failedSecond ? r.outcome : h.outcome;
  const a: Attempt = {
    outcome,
    phase: failedSecond ? r.phase : h.phase,
    ms: h.ms,
  };
  const cause = failedSecond ? `resumed handshake: ${r.cause ?? r.outcome}` : h.cause;
  if (cause && outcome !== 'ok') a.cause = cause;
  if (h.local || r?.local) a.local = true;
  const timings: Record<string, number> = { ...h.timings };
  if (h.tcpConnectMs !== null) timings.tcpConnectMs = h.tcpConnectMs;
  if (h.clientHelloMs !== undefined) timings.clientHelloMs = h.clientHelloMs;
  if (h.serverMs !== undefined && h.ms !== null) {
    timings.tlsServerMs = h.serverMs;
    timings.tlsClientMs = h.ms - h.serverMs;
  }
  if (r?.ms !== null && r?.ms !== undefined && r.outcome === 'ok') timings.resumeHandshakeMs = r.ms;
  if (Object.keys(timings).length) a.timings = timings;
  const facts: Record<string, unknown> = {};
  if (h.negotiated) {
    facts.negotiated = { ...h.negotiated, resumed: r?.negotiated?.resumed ?? h.negotiated.resumed };
  }
  if (h.certificate) facts.certificate = h.certificate;
  if (h.certProblem) facts.certProblem = h.certProblem;
  if (Object.keys(facts).length) a.facts = facts;
  if (h.pathTallies) a.tallies = { ...h.pathTallies };
  if (extra.resumeWanted && h.outcome === 'ok') {
    a.tallies = {
      ...a.tallies,
      resumption: r ? (r.negotiated?.resumed ? 'resumed' : r.outcome === 'ok' ? 'full' : 'failed') : 'no-session',
    };
  }
  if (h.pathDetail) a.detail = { ...h.pathDetail };
  if (h.localPort !== undefined) a.detail = { ...a.detail, localPort: h.localPort };
  if (h.negotiated) {
    a.detail = {
      ...a.detail,
      version: h.negotiated.version,
      cipher: h.negotiated.cipher,
      group: h.negotiated.group,
      alpn: h.negotiated.alpn,
      ...(r?.negotiated ? { resumed: r.negotiated.resumed } : {}),
      ...(h.certProblem ? { certProblem: h.certProblem.outcome } : {}),
    };
  }
  return a;
}

function pathOf(o: TlsProbeOptions): TlsPathOptions | undefined {
  return o.starttls ? { starttls: o.starttls } : undefined;
}

function contextFor(o: TlsProbeOptions, pin?: TlsVersion): tls.SecureContext {
  return tls.createSecureContext({
    ...(o.ca !== undefined ? { ca: o.ca } : {}),
    ...(o.cert !== undefined ? { cert: o.cert, key: o.key } : {}),
    minVersion: pin ?? o.minVersion ?? 'TLSv1.2',
    maxVersion: pin ?? o.maxVersion ?? 'TLSv1.3',
  });
}

/**
 * The TLS probe: one attempt is a TCP connect and a handshake (two with
 * `resume`). Contexts are built once, not per attempt: parsing the CA
 * bundle per handshake would cost more CPU than the handshake.
 */
export function createTlsProbe(o: TlsProbeOptions): Probe<TlsTarget> {
  const setup: HandshakeSetup = {
    context: contextFor(o),
    alpn: o.alpn,
    insecure: Boolean(o.insecure),
    family: o.family,
    path: pathOf(o),
    trusted: trustedBy(o.ca),
    wantSession: Boolean(o.resume),
  };
  // What a plaintext server says, asked once per target and run (not per attempt: a load of
  // failed handshakes must not double its connections).
  const sniffed = new Map<string, Promise<{ what: string | null; localPort?: number }>>();
  return async (t, signal) => {
    const deadline = now() + o.timeoutMs;
    const first = await handshakeOnce(t, setup, signal, deadline);
    if (first.outcome === 'not-tls') {
      const key = `${t.host}:${t.port}`;
      if (!sniffed.has(key))
        sniffed.set(
          key,
          sniffPlaintextFrom(t.host, t.port, Math.min(1000, o.timeoutMs), signal).catch(() => ({ what: null })),
        );
      const { what, localPort: sniffPort } = await sniffed.get(key)!;
      const a = toAttempt(first, { resumeWanted: Boolean(o.resume) });
      // The one plain connection that asked (shared by the target's attempts): its port, for a capture.
      if (sniffPort !== undefined) a.detail = { ...a.detail, sniffLocalPort: sniffPort };
      if (what) {
        a.cause = `the server answered in plaintext: ${what}`;
        a.detail = { ...a.detail, answeredWith: what };
        a.facts = { ...a.facts, answeredWith: what };
      }
      return a;
    }
    if (!o.resume || first.outcome !== 'ok') return toAttempt(first, { resumeWanted: Boolean(o.resume) });
    if (!first.session) return toAttempt(first, { resumeWanted: true });
    // --timeout is per attempt (contract): the resumed handshake gets what the first one left.
    const second = await handshakeOnce(t, setup, signal, deadline, first.session);
    return toAttempt(first, { resumed: second, resumeWanted: true });
  };
}

/**
 * Which versions the server accepts: one handshake per version, pinned with
 * min = max. Certificate problems do not count here (the question is the
 * protocol), so a server with an expired certificate still shows `ok`.
 */
export async function probeTlsVersions(t: TlsTarget, o: TlsProbeOptions, signal: AbortSignal): Promise<Record<TlsVersion, string>> {
  const out = {} as Record<TlsVersion, string>;
  for (const v of TLS_VERSIONS) {
    const setup: HandshakeSetup = { context: contextFor(o, v), alpn: o.alpn, insecure: true, family: o.family, path: pathOf(o) };
    const h = await handshakeOnce(t, setup, signal, now() + o.timeoutMs);
    out[v] = h.outcome === 'ok' && h.negotiated?.version !== v ? `error` : h.outcome;
  }
  return out;
}

export { TLS_DEFAULT_PORT } from '../core/tls.js';

/**
 * How long the engine lets one tls attempt run: --timeout per handshake, so
 * twice that with --resume (two handshakes per attempt). The CLI and checks
 * both ask here.
 */
export function tlsAttemptAllowanceMs(timeoutMs: number, resume: boolean | undefined): number {
  return timeoutMs * (resume ? 2 : 1);
}
