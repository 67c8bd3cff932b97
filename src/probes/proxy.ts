import type * as net from 'node:net';
import { now } from '../core/clock.js';
import type { ProxyOutcome } from '../core/types.js';
import { Dialog, DialogEnd, printable } from './dialog.js';
import { connectTcp } from './tcp.js';

/**
 * HTTP CONNECT proxies (`--proxy http://host:port`, RFC 9110 section 9.3.6):
 * the TCP connect to the proxy (phase `proxy`) and its answer to CONNECT
 * (phase `tunnel`) are timed and judged apart from the target, so a proxy
 * that refuses is never reported as the target refusing.
 */
export interface ProxyConfig {
  /** As the user gave it, credentials left out (for messages and the result). */
  url: string;
  /** The proxy's address (an IP literal, resolved before the run). */
  host: string;
  port: number;
  /** "user:password" from the URL, sent as Proxy-Authorization: Basic. */
  auth?: string;
}

export interface ProxyConnected {
  outcome: 'ok' | ProxyOutcome;
  phase: 'proxy' | 'tunnel';
  socket?: net.Socket;
  /** SYN to the proxy → established. */
  proxyConnectMs: number | null;
  /** CONNECT written → the proxy's whole answer head read. */
  tunnelMs: number | null;
  /** The proxy's status code, when it answered. */
  status?: number;
  cause?: string;
  local?: boolean;
}

/** An URL's parts for `--proxy`: http only; the host still to be resolved. */
export function parseProxyUrl(text: string): { url: string; host: string; port: number; auth?: string } | { error: string } {
  let u: URL;
  try {
    u = new URL(text);
  } catch {
    return { error: `not a URL: give http://HOST:PORT` };
  }
  if (u.protocol !== 'http:') return { error: `only http:// proxies (HTTP CONNECT) are supported, not ${u.protocol}//` };
  if (!u.hostname) return { error: 'no host in it' };
  if (u.pathname !== '/' || u.search || u.hash) return { error: 'a proxy URL has no path: give http://HOST:PORT' };
  const host = u.hostname.startsWith('[') ? u.hostname.slice(1, -1) : u.hostname;
  const port = u.port ? Number(u.port) : 80;
  const auth = u.username ? `${decodeURIComponent(u.username)}:${decodeURIComponent(u.password)}` : undefined;
  return { url: `http://${u.host}`, host, port, ...(auth ? { auth } : {}) };
}

/**
 * The proxy the environment names for an https connection to host:port
 * (`--proxy env`): HTTPS_PROXY (or https_proxy), unless NO_PROXY (or
 * no_proxy) names the host: `*`, an exact name or address, a domain and its
 * subdomains (`example.com`, `.example.com`), each optionally with `:port`.
 */
export function proxyFromEnv(env: Record<string, string | undefined>, host: string, port: number): string | null {
  const proxy = env.HTTPS_PROXY ?? env.https_proxy;
  if (!proxy) return null;
  const noProxy = (env.NO_PROXY ?? env.no_proxy ?? '')
    .split(/[,\s]+/)
    .map((s) => s.trim().toLowerCase())
    .filter(Boolean);
  const h = host.toLowerCase().replace(/^\[|\]$/g, '');
  for (const entry of noProxy) {
    if (entry === '*') return null;
    let name = entry;
    let p: string | undefined;
    const v6 = /^\[([^\]]*)\](?::(\d+))?$/.exec(entry);
    if (v6) [name, p] = [v6[1]!, v6[2]];
    else if (entry.split(':').length === 2) [name, p] = entry.split(':') as [string, string];
    if (p !== undefined && Number(p) !== port) continue;
    name = name.replace(/^\*?\./, '');
    if (h === name || h.endsWith(`.${name}`)) return null;
  }
  return proxy;
}

const PROXY_OF_TCP: Record<string, ProxyOutcome> = {
  refused: 'proxy-refused',
  timeout: 'proxy-timeout',
  unreachable: 'proxy-unreachable',
  reset: 'proxy-reset',
  closed: 'proxy-closed',
};

/** The end of an HTTP response head (CRLF CRLF, or LF LF), or -1. */
function headEnd(b: Buffer): number {
  const i = b.indexOf('\r\n\r\n');
  if (i >= 0) return i + 4;
  const j = b.indexOf('\n\n');
  return j >= 0 ? j + 2 : -1;
}

/** `host:port` as CONNECT names it (RFC 9112 section 3.2.3: authority-form, IPv6 in brackets). */
export function authorityOf(host: string, port: number): string {
  return `${host.includes(':') ? `[${host}]` : host}:${port}`;
}

/**
 * Connects to the proxy and asks it for a tunnel to host:port. On `ok` the
 * socket is the tunnel, with no listener of this module on it and nothing
 * unread. Never throws for a network outcome.
 */
export async function connectViaProxy(
  proxy: ProxyConfig,
  target: { host: string; port: number },
  o: { deadline: number; signal: AbortSignal; family?: 4 | 6 },
): Promise<ProxyConnected> {
  const tcp = await connectTcp({
    host: proxy.host,
    port: proxy.port,
    timeoutMs: Math.max(1, o.deadline - now()),
    signal: o.signal,
    family: o.family,
  });
  if (tcp.outcome !== 'ok' || !tcp.socket) {
    return {
      outcome: PROXY_OF_TCP[tcp.outcome] ?? 'proxy-error',
      phase: tcp.outcome === 'reset' ? 'tunnel' : 'proxy',
      proxyConnectMs: tcp.connectMs,
      tunnelMs: null,
      cause: `proxy ${proxy.url}: ${tcp.cause ?? tcp.outcome}`,
      local: tcp.local,
    };
  }
  const socket = tcp.socket;
  const proxyConnectMs = tcp.connectMs;
  const authority = authorityOf(target.host, target.port);
  const d = new Dialog(socket, o.deadline, now, o.signal);
  const t0 = now();
  let tunnelMs: number | null = null;
  const fail = (outcome: ProxyOutcome, cause: string, status?: number): ProxyConnected => {
    socket.destroy();
    return { outcome, phase: 'tunnel', proxyConnectMs, tunnelMs, cause: `proxy ${proxy.url}: ${cause}`, ...(status ? { status } : {}) };
  };
  try {
    d.write(
      `CONNECT ${authority} HTTP/1.1\r\nHost: ${authority}\r\nUser-Agent: conndx\r\n` +
        (proxy.auth ? `Proxy-Authorization: Basic ${Buffer.from(proxy.auth).toString('base64')}\r\n` : '') +
        '\r\n',
    );
    const head = (await d.read(headEnd)).toString('latin1');
    tunnelMs = now() - t0;
    const m = /^HTTP\/1\.[01] (\d{3})(?: ([^\r\n]*))?\r?\n/.exec(head);
    if (!m) return fail('proxy-protocol-error', `not an HTTP answer to CONNECT: "${printable(head, 80)}"`);
    const status = Number(m[1]);
    if (status < 200 || status > 299) {
      return fail('proxy-denied', `CONNECT ${authority} answered ${status}${m[2] ? ` ${printable(m[2], 80)}` : ''}`, status);
    }
    if (d.leftover > 0) return fail('proxy-protocol-error', `${d.leftover} bytes after the ${status} answer, before any ClientHello`);
    return { outcome: 'ok', phase: 'tunnel', socket, proxyConnectMs, tunnelMs, status };
  } catch (e) {
    if (e instanceof DialogEnd) {
      const outcome: ProxyOutcome =
        e.how === 'timeout'
          ? 'proxy-answer-timeout'
          : e.how === 'reset'
            ? 'proxy-reset'
            : e.how === 'closed'
              ? 'proxy-closed'
              : 'proxy-protocol-error';
      return fail(outcome, `CONNECT ${authority}: ${e.message}`);
    }
    return fail('proxy-error', (e as Error).message);
  } finally {
    d.detach();
  }
}
