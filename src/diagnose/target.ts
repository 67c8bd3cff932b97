import type { StarttlsProtocol } from '../probes/starttls.js';

/** What `conndx diagnose` was asked about: a URL or host[:port]. */
export interface DiagnoseTarget {
  /** As the user wrote it. */
  raw: string;
  scheme: 'http' | 'https' | null;
  /** Host name or address literal, without brackets. */
  host: string;
  /** 4 or 6 for an address literal, 0 for a name. */
  family: 0 | 4 | 6;
  port: number;
  /** Path and query for the HTTP request (URLs only). */
  path: string | null;
  /** smtp://, postgres:// … URLs: the STARTTLS dialog before the TLS handshake (no HTTP). */
  starttls?: StarttlsProtocol;
  /** tls://host[:853] (DoT) and https://host/dns-query (DoH) URLs: a resolver, asked DNS queries after TLS (no HTTP GET). */
  resolver?: ResolverTarget;
}

/** A DoT or DoH resolver as a diagnose target. */
export interface ResolverTarget {
  transport: 'dot' | 'doh';
  /** DoH: the URL the queries go to (path and query as written). */
  url?: string;
}

/** Ports where a TLS handshake comes first: HTTPS, DoT, IMAPS, POP3S, SMTPS, LDAPS, AMQPS, Kubernetes API. */
export const TLS_PORTS = new Set([443, 465, 636, 853, 993, 995, 5671, 6443, 8443, 9443]);
