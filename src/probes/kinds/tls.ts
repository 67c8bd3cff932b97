import { fmtMs } from '../../core/format.js';
import { TLS_DEFAULT_PORT } from '../../core/tls.js';
import {
  ENGINE_OUTCOMES,
  TCP_OUTCOMES,
  TLS_OUTCOMES,
  tlsOutcomePhase,
  type ProbePlan,
  type ProbeResult,
  type TargetRef,
} from '../../core/types.js';
import { CERT_WARN_DAYS, type CertificateFacts } from '../cert.js';
import type { ProxyConfig } from '../proxy.js';
import {
  createTlsProbe,
  probeTlsVersions,
  tlsAttemptAllowanceMs,
  TLS_VERSIONS,
  type CertProblem,
  type Negotiated,
  type TlsProbeOptions,
  type TlsTarget,
  type TlsVersion,
} from '../tls.js';
import { putLookups, type KindSummary, type Paint, type ProbeKind, type ResolvedTarget } from './kind.js';

export { TLS_DEFAULT_PORT };

/** What a tls plan is built from: `conndx tls` flags, a tls check, diagnose's handshake phase. */
export interface TlsKindSettings {
  probe: TlsProbeOptions;
  /** The SNI for every target (default: the target's name; none for an address). */
  sni?: string;
  /** After the run, one handshake pinned to each version per target (reported as `versions`). */
  versions?: boolean;
  /** The HTTP CONNECT proxy of each target that goes through one, by target key (`--proxy`, NO_PROXY applied). */
  proxies?: ReadonlyMap<string, ProxyConfig>;
}

const yesNo = (b: unknown) => (b ? 'yes' : 'no');

/** "89 days left", in yellow under CERT_WARN_DAYS, "expired 3 days ago" in red. */
function daysWords(days: number, c: Paint): string {
  if (days < 0) return c.red(`expired ${-days} days ago`);
  return days < CERT_WARN_DAYS ? c.yellow(`${days} days left`) : `${days} days left`;
}

/** The summary lines of the TLS facts in a result (negotiated, certificate, versions). */
export function tlsSummaryLines(r: ProbeResult, c: Paint): string[] {
  const out: string[] = [];
  const n = r.negotiated as Negotiated | undefined;
  if (n) {
    out.push(
      `negotiated: ${n.version ?? '-'} ${n.cipher ?? '-'}, group ${n.group ?? '-'}, alpn ${n.alpn ?? '-'}, resumed ${yesNo(n.resumed)}`,
    );
  }
  const res = r.resumption as Record<string, number> | undefined;
  if (res)
    out.push(
      `resumption: ${Object.entries(res)
        .map(([k, v]) => `${k} ${v}`)
        .join(', ')}`,
    );
  const cert = r.certificate as CertificateFacts | undefined;
  if (cert) {
    const days = daysWords(cert.daysLeft, c);
    out.push(`certificate: ${cert.subject}`);
    out.push(`  issuer ${cert.issuer}`);
    out.push(`  valid ${cert.notBefore} to ${cert.notAfter} (${days})`);
    if (cert.sans.length) out.push(`  sans ${cert.sans.join(', ')}`);
    out.push(
      `  chain ${cert.chainLength} certificate${cert.chainLength === 1 ? '' : 's'}, self-signed ${yesNo(cert.selfSigned)}, OCSP staple ${yesNo(cert.ocspStapled)}`,
    );
    if (cert.key) out.push(`  key ${cert.key}`);
    if (cert.fingerprint256) out.push(`  sha256 ${cert.fingerprint256}`);
    if (cert.chain?.length) {
      out.push('  chain, leaf first:');
      cert.chain.forEach((x, i) => {
        const left = daysWords(x.daysLeft, c);
        out.push(`    ${i} ${x.subject}  (${x.source === 'sent' ? 'sent' : 'from the trust store'})`);
        out.push(`      issuer ${x.issuer}, ${left}, key ${x.key ?? '-'}`);
        out.push(`      sha256 ${x.fingerprint256}`);
      });
    }
  }
  if (typeof r.answeredWith === 'string') out.push(c.red(`not TLS: the server answered in plaintext: ${r.answeredWith}`));
  const problem = r.certProblem as CertProblem | undefined;
  if (problem && r.succeeded > 0) out.push(c.yellow(`certificate problem (not failed: --insecure): ${problem.outcome} (${problem.cause})`));
  const differ = r.differByTarget as string[] | undefined;
  if (differ?.length) out.push(c.yellow(`${differ.join(', ')}: differ by target (each target's block above shows its own)`));
  const versions = r.versions as Record<string, string> | undefined;
  if (versions) {
    out.push('versions:');
    for (const v of TLS_VERSIONS) out.push(`  ${v}  ${versions[v] === 'ok' ? c.green('ok') : c.red(versions[v] ?? '-')}`);
  }
  return out;
}

/** Warnings from a result: a certificate close to or past its end, a problem --insecure let through. */
export function tlsWarnings(r: ProbeResult): string[] {
  const w: string[] = [];
  const each = (res: ProbeResult, label: string) => {
    const cert = res.certificate as CertificateFacts | undefined;
    if (cert && cert.daysLeft >= 0 && cert.daysLeft < CERT_WARN_DAYS) {
      w.push(`${label}certificate ${cert.subject} expires in ${cert.daysLeft} day${cert.daysLeft === 1 ? '' : 's'} (${cert.notAfter})`);
    }
    const problem = res.certProblem as CertProblem | undefined;
    if (problem && res.succeeded > 0) w.push(`${label}${problem.outcome} ignored because of --insecure: ${problem.cause}`);
  };
  const by = r.byTarget as Record<string, ProbeResult> | undefined;
  if (by && Object.keys(by).length > 1) for (const [k, res] of Object.entries(by)) each(res, `${k}: `);
  else each(r, '');
  return w;
}

const summary: KindSummary = {
  phaseLabel: 'tls handshake',
  timingRows: [
    ['proxyConnectMs', 'proxy connect'],
    ['tunnelMs', 'proxy CONNECT'],
    ['tcpConnectMs', 'tcp connect'],
    ['starttlsMs', 'starttls'],
    ['resumeHandshakeMs', 'tls resumed'],
    ['tlsServerMs', 'tls server part'],
    ['tlsClientMs', 'tls client part'],
  ],
  extra: tlsSummaryLines,
  warnings: tlsWarnings,
  attemptDetail: (r) => {
    const d = r.detail ?? {};
    const parts: string[] = [];
    if (d.version) parts.push(String(d.version), String(d.cipher ?? ''));
    if (d.alpn) parts.push(`alpn=${String(d.alpn)}`);
    if (d.resumed !== undefined) parts.push(`resumed=${yesNo(d.resumed)}`);
    if (d.certProblem && r.outcome === 'ok') parts.push(`(${String(d.certProblem)} ignored)`);
    const tcp = r.timings?.tcpConnectMs;
    if (tcp !== undefined) parts.push(`tcp ${fmtMs(tcp)} ms`);
    const px = r.timings?.proxyConnectMs;
    if (px !== undefined) parts.push(`proxy ${fmtMs(px)} ms`);
    const tun = r.timings?.tunnelMs;
    if (tun !== undefined) parts.push(`CONNECT ${String(d.proxyStatus ?? '')} ${fmtMs(tun)} ms`);
    const st = r.timings?.starttlsMs;
    if (st !== undefined) parts.push(`starttls ${fmtMs(st)} ms`);
    return parts.join(' ');
  },
};

/** The SNI of a target: the one asked for, else the target's name (none for an address literal). */
export function serverNameOf(t: Pick<ResolvedTarget, 'host' | 'hostFamily'>, sni: string | undefined): string | undefined {
  return sni ?? (t.hostFamily === 0 ? t.host : undefined);
}

export const tlsKind: ProbeKind<TlsKindSettings> = {
  name: 'tls',
  phase: 'tls',
  defaultPort: TLS_DEFAULT_PORT,
  // TLS alerts (alert:<name>) are open-ended: they appear when first seen.
  outcomes: [...TLS_OUTCOMES, ...TCP_OUTCOMES.filter((o) => o !== 'ok').map((o) => `tcp:${o}`), ...ENGINE_OUTCOMES],
  // tcp:*, and the phases before the handshake: proxy-*, starttls-* (core/types.ts tlsOutcomePhase).
  phaseOfOutcome: tlsOutcomePhase,
  summary: () => summary,
  plan(s, resolved: ResolvedTarget[], env = {}) {
    const targets: TargetRef<TlsTarget>[] = resolved.map((t) => ({
      key: t.key,
      target: {
        key: t.key,
        host: t.address,
        port: t.port,
        serverName: serverNameOf(t, s.sni),
        ...(s.proxies?.get(t.key) ? { proxy: s.proxies.get(t.key)! } : {}),
      },
    }));
    const plan: ProbePlan<TlsTarget> = {
      probe: 'tls',
      targets,
      fn: createTlsProbe(s.probe),
      // Handshakes are CPU-bound: worker threads rebuild the same probe from these options.
      worker: { module: 'probes/tls.js', factory: 'createTlsProbe', args: s.probe },
      fdsPerAttempt: 1,
      decorate: async (res) => {
        putLookups(res, resolved);
        if (!s.versions) return;
        const by = res.byTarget as Record<string, ProbeResult> | undefined;
        for (const t of targets) {
          const v: Record<TlsVersion, string> = await probeTlsVersions(t.target, s.probe, env.signal ?? new AbortController().signal);
          if (by?.[t.key]) by[t.key]!.versions = v;
          if (targets.length === 1) res.versions = v;
        }
      },
    };
    return Promise.resolve({
      plan: plan as ProbePlan<unknown>,
      engineTimeoutMs: tlsAttemptAllowanceMs(s.probe.timeoutMs, s.probe.resume),
      close: () => {},
    });
  },
};
