import type { Phase } from '../core/types.js';
import { dnsKind } from './kinds/dns.js';
import { httpKind } from './kinds/http.js';
import type { ProbeKind, ProbeKindInfo } from './kinds/kind.js';
import { tcpKind } from './kinds/tcp.js';
import { tlsKind } from './kinds/tls.js';

export type { ProbeKind, ProbeKindInfo };

/**
 * Every probe kind conndx runs, by name (as blackbox_exporter's Probers map).
 * A new kind is one module in kinds/ and one line here.
 */
export const PROBERS = {
  dns: dnsKind,
  tcp: tcpKind,
  tls: tlsKind,
  http: httpKind,
} as const;

export type KindName = keyof typeof PROBERS;

export function kindOf(name: string): ProbeKindInfo | undefined {
  return (PROBERS as Record<string, ProbeKindInfo>)[name];
}

/** The phase a probe kind measures; tcp for a kind conndx does not know. */
export function phaseOfKind(name: string): Phase {
  return kindOf(name)?.phase ?? 'tcp';
}
