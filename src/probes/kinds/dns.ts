import { DNS_OUTCOMES, ENGINE_OUTCOMES } from '../../core/types.js';
import { planDns, type DnsQuery, type DnsServer } from '../dns.js';
import type { KindSummary, ProbeKind } from './kind.js';

/** What a dns plan is built from: the query; the targets are the servers asked. */
export type DnsKindSettings = DnsQuery;

function summary(s: DnsKindSettings): KindSummary {
  return {
    phaseLabel: 'dns query',
    timingRows: [['replyMs', 'failed replies']],
    attemptDetail: (r) => {
      const d = r.detail ?? {};
      const parts = [
        d.rcode && r.outcome === 'ok' ? String(d.rcode) : '',
        d.transport === 'tcp' && !s.tcp ? 'via tcp (truncated over udp)' : '',
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
      return out;
    },
    warnings: (res) =>
      res.mismatchedReplies
        ? [`${res.mismatchedReplies as number} replies did not match an outstanding query (wrong id or question, or late) and were ignored`]
        : [],
  };
}

export const dnsKind: ProbeKind<DnsKindSettings, DnsServer> = {
  name: 'dns',
  phase: 'dns',
  defaultPort: 53,
  outcomes: [...DNS_OUTCOMES, ...ENGINE_OUTCOMES],
  phaseOfOutcome: () => 'dns',
  summary,
  async plan(s, servers) {
    const { plan, close } = await planDns({ ...s, servers });
    return { plan: plan as import('../../core/types.js').ProbePlan<unknown>, engineTimeoutMs: s.timeoutMs, close };
  },
};
