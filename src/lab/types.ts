/** A misbehaving endpoint on loopback, for tests, `conndx lab` and `conndx demo`. */
export interface LabEndpoint {
  /** Stable name, e.g. "dns-slow-tail", "tcp-refuse", "tls-expired". */
  name: string;
  kind: 'dns' | 'tcp' | 'tls' | 'http';
  host: string; // always a loopback address
  port: number;
  /** One line: what it does. */
  description: string;
  /** The outcome a probe of this endpoint should report (contract name). */
  expect: string;
  /** Extra facts a client may need: e.g. the CA PEM to trust, the SNI to use, the query name. */
  info?: Record<string, unknown>;
  close(): Promise<void>;
}

export type LabFactory = (opts?: { host?: string }) => Promise<LabEndpoint>;

/** The only addresses the lab binds. */
export const LAB_HOST = '127.0.0.1';
export const LAB_HOST6 = '::1';
