import type * as net from 'node:net';
import type { Phase, TlsOutcome } from '../core/types.js';
import { connectViaProxy, type ProxyConfig } from './proxy.js';
import { starttls, type StarttlsProtocol } from './starttls.js';
import { connectTcp } from './tcp.js';

/**
 * The way to a TLS handshake: a TCP connect, or a tunnel through an HTTP
 * proxy, then, when asked, the plaintext STARTTLS dialog. Each step is a
 * phase of its own with its own time; the TLS probe starts its handshake
 * clock only once this hands it the socket.
 */
export interface TlsPathOptions {
  family?: 4 | 6;
  proxy?: ProxyConfig;
  starttls?: StarttlsProtocol;
}

export interface OpenedPath {
  outcome: 'ok' | TlsOutcome;
  /** Where it ended: the last phase that ran. */
  phase: Phase;
  /** When ok: the socket the ClientHello goes on, owned by the caller. */
  socket?: net.Socket;
  /** SYN → established to the target (null through a proxy, or when the connect failed). */
  tcpConnectMs: number | null;
  /** proxyConnectMs, tunnelMs, starttlsMs: each earlier phase that completed. */
  timings: Record<string, number>;
  /** Facts of the way, e.g. { proxyStatus: 200 }. */
  detail?: Record<string, unknown>;
  /** Counted per value into the result: the proxy's status, the STARTTLS reply that refused. */
  tallies?: Record<string, string>;
  cause?: string;
  local?: boolean;
  /** This side's port toward the target (no proxy): a capture's client port for the attempt. */
  localPort?: number;
}

export async function openTlsPath(
  host: string,
  port: number,
  o: TlsPathOptions,
  signal: AbortSignal,
  deadline: number,
  nowMs: () => number,
): Promise<OpenedPath> {
  const timings: Record<string, number> = {};
  let socket: net.Socket;
  let tcpConnectMs: number | null = null;
  let detail: Record<string, unknown> | undefined;
  let localPort: number | undefined;
  if (o.proxy) {
    const p = await connectViaProxy(o.proxy, { host, port }, { deadline, signal, family: o.family });
    if (p.proxyConnectMs !== null) timings.proxyConnectMs = p.proxyConnectMs;
    if (p.tunnelMs !== null) timings.tunnelMs = p.tunnelMs;
    if (p.status !== undefined) detail = { proxyStatus: p.status };
    const tallies = p.status !== undefined ? { proxyStatuses: String(p.status) } : undefined;
    if (p.outcome !== 'ok' || !p.socket) {
      return { outcome: p.outcome, phase: p.phase, tcpConnectMs, timings, detail, tallies, cause: p.cause, local: p.local };
    }
    socket = p.socket;
  } else {
    const tcp = await connectTcp({ host, port, timeoutMs: Math.max(1, deadline - nowMs()), signal, family: o.family });
    localPort = tcp.localPort;
    if (tcp.outcome === 'reset') {
      // The TCP handshake completed and the server reset at once: what came next failed (the
      // upgrade, or the TLS handshake), never the TCP phase; `conndx tcp --hold` calls it app.
      return o.starttls
        ? {
            outcome: 'starttls-reset',
            phase: 'starttls',
            tcpConnectMs: null,
            timings,
            localPort,
            cause: 'the server accepted the connection and reset it (RST) before the upgrade',
          }
        : {
            outcome: 'reset',
            phase: 'tls',
            tcpConnectMs: null,
            timings,
            localPort,
            cause: 'the server accepted the connection and reset it (RST) before the TLS handshake could start',
          };
    }
    if (tcp.outcome !== 'ok' || !tcp.socket) {
      return { outcome: `tcp:${tcp.outcome}`, phase: 'tcp', tcpConnectMs: null, timings, cause: tcp.cause, local: tcp.local, localPort };
    }
    socket = tcp.socket;
    tcpConnectMs = tcp.connectMs;
  }
  if (o.starttls) {
    socket.setNoDelay(true);
    const s = await starttls(socket, o.starttls, deadline, signal);
    if (s.outcome !== 'ok') {
      socket.destroy();
      const tallies = s.reply ? { starttlsReplies: s.reply.slice(0, 160) } : undefined;
      return { outcome: s.outcome, phase: 'starttls', tcpConnectMs, timings, detail, tallies, cause: s.cause, localPort };
    }
    timings.starttlsMs = s.ms;
  }
  const tallies = detail?.proxyStatus !== undefined ? { proxyStatuses: String(detail.proxyStatus) } : undefined;
  return {
    outcome: 'ok',
    phase: o.starttls ? 'starttls' : o.proxy ? 'tunnel' : 'tcp',
    socket,
    tcpConnectMs,
    timings,
    detail,
    tallies,
    localPort,
  };
}
