/** The shapes the diagnosis chain and its verdict share (a file of its own, so neither imports the other back). */
import type { ProbeResult } from '../core/types.js';
import type { SystemLookup } from './lookup.js';

/** One resolved address and who gave it. */
export interface AddressInfo {
  address: string;
  family: 4 | 6;
  /** The key of this address in the phases' byTarget: address:port. */
  key: string;
  /** "system" (what applications get) and/or the servers that answered it. */
  from: string[];
  /** The local (source) address the connections to it use: the kernel's choice of route (null: no route). */
  source?: string | null;
}

/** The DNS phase: the dns probe's result (A and AAAA over every server), plus how applications resolve the name. */
export interface DnsPhase extends ProbeResult {
  /** The name the direct queries asked (the search list applied, as the system resolver does). */
  queried: string;
  byType: Record<string, ProbeResult>;
  system: SystemLookup;
  search: { search: string[]; ndots: number; candidates: string[] };
}

export interface DiagnosePlan {
  host: string;
  port: number;
  tls: boolean;
  http: boolean;
  path: string | null;
  sni: string | null;
  /** The HTTP phase's protocol choice: `auto` (ALPN h2,http/1.1), `http1.1` or `h2`. */
  httpProtocol: 'auto' | 'http1.1' | 'h2';
  /** The STARTTLS dialog before the handshake, when there is one. */
  starttls?: string;
  count: number;
  timeoutMs: number;
  family: 0 | 4 | 6;
  servers: string[];
  /** The --resolv-conf and --hosts files the run read (else the system's), for the advice that names them. */
  resolvConfFile?: string;
  hostsFile?: string;
  /** Flags a suggested `conndx diagnose` needs to see what this run saw (--resolv-conf, --hosts, --server, --sni, the TLS trust). */
  reproduceDiagnose?: string[];
  /** Flags a suggested `conndx tls` needs to see what this run saw (--ca, --cert/--key, --insecure). */
  reproduceTls?: string[];
  /** `--expect-status`: the HTTP statuses that count as healthy. */
  expectStatus?: [number, number][];
  /** `--proxy`: the HTTP CONNECT proxy every connection goes through (its URL, credentials left out). */
  proxy?: string;
  /** A DoT/DoH resolver target: the queries asked after the TLS phase (instead of an HTTP GET). */
  resolver?: ResolverPlan;
}

/** The resolver part of a diagnose plan. */
export interface ResolverPlan {
  transport: 'dot' | 'doh';
  name: string;
  /** The query type by name (NS, A …). */
  type: string;
  /** DoH: the URL asked. */
  url?: string;
}
