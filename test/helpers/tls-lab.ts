import { TLS_LAB } from '../../src/lab/tls.js';
import type { LabEndpoint, LabFactory } from '../../src/lab/types.js';
import { createTlsProbe, type TlsProbeOptions, type TlsTarget } from '../../src/probes/tls.js';
import type { Attempt } from '../../src/core/types.js';

/** Starts a TLS lab endpoint; the caller closes it. */
export async function startTls(name: string | LabFactory, host?: string): Promise<LabEndpoint> {
  const f = typeof name === 'string' ? TLS_LAB[name] : name;
  if (!f) throw new Error(`no TLS lab endpoint ${String(name)}`);
  return f(host ? { host } : undefined);
}

export function targetOf(ep: LabEndpoint, serverName: string | undefined = ep.info?.sni as string | undefined): TlsTarget {
  const host = ep.host.includes(':') ? `[${ep.host}]` : ep.host;
  return { key: `${host}:${ep.port}`, host: ep.host, port: ep.port, serverName };
}

/** One probe attempt against a lab endpoint, trusting the lab CA unless told otherwise. */
export async function probeOnce(ep: LabEndpoint, o: Partial<TlsProbeOptions> = {}, serverName?: string): Promise<Attempt> {
  const probe = createTlsProbe({ timeoutMs: 2000, ca: ep.info?.ca as string, ...o });
  return probe(targetOf(ep, serverName ?? (ep.info?.sni as string | undefined)), new AbortController().signal);
}
