import { DNS_OUTCOMES, ENGINE_OUTCOMES } from '../../core/types.js';
import { planDns, type DnsPlanOptions, type DnsServer } from '../dns.js';
import type { KindSummary, ProbeKind } from './kind.js';
import { dnsAttemptParts, dnsSummaryLines, dnsWarnings } from '../dns-summary.js';

/** What a dns plan is built from: the query; the targets are the servers asked. */
export type DnsKindSettings = Omit<DnsPlanOptions, 'servers'>;

function summary(s: DnsKindSettings): KindSummary {
  return {
    phaseLabel: 'dns query',
    timingRows: [
      ['tcpConnectMs', 'tcp connect'],
      ['tlsHandshakeMs', 'tls handshake'],
      ['queryMs', 'query'],
      ['replyMs', 'failed replies'],
    ],
    attemptDetail: (r) => {
      const d = r.detail ?? {};
      const parts = [
        d.rcode && r.outcome === 'ok' ? String(d.rcode) : '',
        d.transport === 'tcp' && !s.tcp ? 'via tcp (truncated over udp)' : '',
        ...dnsAttemptParts(d),
      ];
      if (Array.isArray(d.records) && d.records.length)
        parts.push(
          d.records
            .slice(0, 3)
            .map((x) => String(x).split(' ').slice(3).join(' '))
            .join(', ') + (d.records.length > 3 ? ', …' : ''),
        );
      return parts.filter(Boolean).join(' ');
    },
    extra: (r) => {
      const out: string[] = [];
      if (r.rcodes)
        out.push(
          `rcodes: ${Object.entries(r.rcodes as Record<string, number>)
            .map(([k, v]) => `${k} ${v}`)
            .join(', ')}`,
        );
      if (r.tcpFallback) out.push(`truncated over UDP and retried over TCP: ${r.tcpFallback as number}`);
      if (Array.isArray(r.answers) && r.answers.length) out.push(`answer: ${(r.answers as string[]).join('; ')}`);
      out.push(...dnsSummaryLines(r));
      return out;
    },
    warnings: dnsWarnings,
  };
}

export const dnsKind: ProbeKind<DnsKindSettings, DnsServer> = {
  name: 'dns',
  phase: 'dns',
  defaultPort: 53,
  outcomes: [...DNS_OUTCOMES, ...ENGINE_OUTCOMES],
  // DoT/DoH: a failed connect or handshake is named as the tls probe names it, in its own phase.
  phaseOfOutcome: (o) =>
    o.startsWith('tcp:') ? 'tcp' : o.startsWith('cert-') || o.startsWith('alert:') || o === 'protocol-error' ? 'tls' : 'dns',
  summary,
  async plan(s, servers) {
    const { plan, close } = await planDns({ ...s, servers });
    return { plan: plan as import('../../core/types.js').ProbePlan<unknown>, engineTimeoutMs: s.timeoutMs, close };
  },
};
