import type * as net from 'node:net';
import { now } from '../core/clock.js';
import type { Attempt } from '../core/types.js';
import { connectViaProxy, type ProxyConfig } from './proxy.js';

/**
 * The HTTP request's connection through an HTTP CONNECT proxy (`diagnose
 * --proxy`): the tunnel, or the attempt that ends in the proxy's phase
 * (`proxy` or `tunnel`, as `conndx tls --proxy` names it). Its timings are
 * proxyConnectMs and tunnelMs in place of tcpConnectMs.
 */
export async function tunnelForHttp(
  proxy: ProxyConfig,
  t: { address: string; port: number },
  timeoutMs: number,
  signal: AbortSignal,
): Promise<{ socket: net.Socket; timings: Record<string, number> } | { attempt: Attempt }> {
  const p = await connectViaProxy(proxy, { host: t.address, port: t.port }, { deadline: now() + timeoutMs, signal });
  const timings: Record<string, number> = {};
  if (p.proxyConnectMs !== null) timings.proxyConnectMs = p.proxyConnectMs;
  if (p.tunnelMs !== null) timings.tunnelMs = p.tunnelMs;
  if (p.outcome === 'ok' && p.socket) return { socket: p.socket, timings };
  return {
    attempt: {
      outcome: p.outcome,
      phase: p.phase,
      ms: null,
      timings,
      ...(p.cause ? { cause: p.cause } : {}),
      ...(p.local ? { local: true } : {}),
    },
  };
}
