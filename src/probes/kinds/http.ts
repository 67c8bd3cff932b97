import { ENGINE_OUTCOMES, type ProbePlan, type TargetRef } from '../../core/types.js';
import { createHttpProbe, type HttpProbeOptions, type HttpTarget } from '../http.js';
import type { KindSummary, ProbeKind, ResolvedTarget } from './kind.js';

/** What an http plan is built from: diagnose's request phase (after tcp and tls). */
export interface HttpKindSettings extends HttpProbeOptions {
  tls: boolean;
  /** SNI for every target (default: the target's name; none for an address). */
  sni?: string;
  /** Path and query of the GET. */
  path: string;
}

/** The Host header of a target: the name (IPv6 literals bracketed), with the port unless it is the scheme's own. */
/** The port of an http:// or https:// URL without one. */
export const URL_DEFAULT_PORTS = { http: 80, https: 443 } as const;

export function hostHeaderOf(t: Pick<ResolvedTarget, 'host' | 'hostFamily' | 'port'>, tls: boolean): string {
  const defaultPort = URL_DEFAULT_PORTS[tls ? 'https' : 'http'];
  return (t.hostFamily === 6 ? `[${t.host}]` : t.host) + (t.port === defaultPort ? '' : `:${t.port}`);
}

const summary: KindSummary = { phaseLabel: 'http request', timingRows: [['firstByteMs', 'first byte']] };

/**
 * The request phase of `diagnose`: app-level, after tcp and tls.
 * `http-<status>`, `tcp:<outcome>` and `tls:<outcome>` are open-ended.
 */
export const httpKind: ProbeKind<HttpKindSettings> = {
  name: 'http',
  phase: 'app',
  defaultPort: URL_DEFAULT_PORTS.https,
  outcomes: ['ok', 'timeout', 'reset', 'closed', 'malformed', 'no-h2', ...ENGINE_OUTCOMES],
  phaseOfOutcome: (o) => (o.startsWith('tcp:') ? 'tcp' : o.startsWith('tls:') ? 'tls' : 'app'),
  summary: () => summary,
  plan(s, resolved) {
    const { tls, sni, path, ...probe } = s;
    const targets: TargetRef<HttpTarget>[] = resolved.map((t) => ({
      key: t.key,
      target: {
        address: t.address,
        port: t.port,
        tls,
        serverName: sni ?? (t.hostFamily === 0 ? t.host : undefined),
        hostHeader: hostHeaderOf(t, tls),
        path,
      },
    }));
    const plan: ProbePlan<HttpTarget> = { probe: 'http', targets, fn: createHttpProbe(probe), fdsPerAttempt: 1 };
    return Promise.resolve({ plan: plan as ProbePlan<unknown>, engineTimeoutMs: s.timeoutMs, close: () => {} });
  },
};
