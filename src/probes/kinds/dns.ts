import { DNS_OUTCOMES, ENGINE_OUTCOMES } from '../../core/types.js';
import { planDns, type DnsPlanOptions, type DnsServer } from '../dns.js';
import type { KindOption, KindSummary, ProbeKind } from './kind.js';
import { DEFAULT_EDNS_SIZE } from '../edns.js';
import { RANDOM_LABEL_LENGTH } from '../dns.js';
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

const opt = (field: string, flag: string | undefined, help: string | undefined, yaml?: string, type?: KindOption['type']): KindOption => ({
  field,
  ...(flag ? { flag } : {}),
  ...(help ? { help } : {}),
  ...(yaml ? { yaml, type: type ?? 'boolean' } : {}),
});

/**
 * The flags of `conndx dns` and the keys of a dns check. Their values are read
 * by src/cli/dns-options.ts and src/checks/dns-options.ts (servers, EDNS,
 * DoT/DoH), which `conndx dns` and the checks share.
 */
export const DNS_OPTIONS: readonly KindOption[] = [
  {
    ...opt(
      'server',
      '-s, --server <host[:port]>',
      'resolver to ask (repeatable; default: the nameservers of /etc/resolv.conf)',
      'server',
      'stringOrList',
    ),
    repeatable: true,
  },
  // The default is named in the help line; commander's own "(default: …)" would say it twice.
  {
    ...opt('type', '-t, --type <type>', 'record type: A AAAA CNAME MX TXT NS SOA SRV PTR CAA HTTPS … (default A)', 'type', 'string'),
    default: 'A',
  },
  opt('tcp', '--tcp', 'query over TCP instead of UDP', 'tcp'),
  opt('noFallback', '--no-fallback', 'report a truncated UDP reply as `truncated` instead of retrying over TCP', 'noFallback'),
  { ...opt('resolvConf', '--resolv-conf <file>', 'where to find the default resolvers'), shownDefault: '/etc/resolv.conf', hidden: true },
  opt(
    'transport',
    '--transport <t>',
    `udp, tcp, dot (DNS over TLS, RFC 7858) or doh (DNS over HTTPS, RFC 8484); default udp`,
    'transport',
    'string',
  ),
  opt(
    'ednsSize',
    '--edns-size <n>',
    `EDNS UDP payload size advertised in the OPT record (512-65535, default ${DEFAULT_EDNS_SIZE})`,
    'ednsSize',
    'number',
  ),
  opt('edns', '--no-edns', 'send no OPT record (plain RFC 1035 queries)', 'edns'),
  opt('dnssec', '--dnssec', 'set the DO bit: report the AD flag and RRSIG records of every reply', 'dnssec'),
  opt('nsid', '--nsid', 'ask for the server identifier (RFC 5001): which anycast instance answered, counted per server', 'nsid'),
  opt('ecs', '--ecs <prefix>', 'send an EDNS client subnet (RFC 7871), e.g. 192.0.2.0/24', 'ecs', 'string'),
  opt('cookie', '--no-cookie', 'send no DNS cookie (RFC 7873; by default a client cookie is sent and the server cookie checked)', 'cookie'),
  opt(
    'randomLabel',
    '--random-label',
    `a fresh ${RANDOM_LABEL_LENGTH}-character label in front of the name on every query: each one misses the cache`,
    'randomLabel',
  ),
  opt('reuse', '--no-reuse', 'DoT/DoH: a new connection for every query, so every TCP and TLS handshake is timed', 'reuse'),
  opt('method', '--method <m>', 'DoH: GET or POST (RFC 8484 §4.1; default POST)', 'method', 'string'),
  opt('http1', '--http1', 'DoH: offer only HTTP/1.1 (default: HTTP/2, falling back to HTTP/1.1 when the server offers no h2)', 'http1'),
  // DoT/DoH take the tls keys as they are.
  {
    ...opt(
      'sni',
      '--sni <name>',
      'DoT/DoH: the TLS server name and the name the certificate must hold (default: the server host)',
      'sni',
      'string',
    ),
    borrowed: true,
  },
  {
    ...opt('ca', '--ca <file>', 'DoT/DoH: trust exactly the CA certificates in this PEM file instead of the default roots', 'ca', 'string'),
    borrowed: true,
  },
  { ...opt('insecure', '--insecure', 'DoT/DoH: report certificate problems but do not fail on them', 'insecure'), borrowed: true },
];

const DNS_HELP = `
Examples:
  conndx dns api.example.com --server 10.0.0.2 --server 10.0.0.3 --count 500 --concurrency 50
  conndx dns example.com --type AAAA --server [2001:db8::53]:53 --json
  conndx dns big.example.com --type TXT --no-fallback     # see truncation instead of the TCP retry
  conndx dns example.com --rate 1000 --duration 10s -q     # open loop: latency includes queueing
  conndx dns example.com --server 10.0.0.2 --nsid --dnssec # which instance answered, AD and RRSIG, EDE by name
  conndx dns www.example.com --server 10.0.0.2 --random-label -c 100   # every query a cache miss
  conndx dns example.com --server tls://10.0.0.2 --no-reuse            # DoT: connect, TLS and query times
  conndx dns example.com --server https://10.0.0.2/dns-query --method GET  # DoH over HTTP/2

Latency is query sent to response (a TCP retry after a truncated reply included).
Outcomes: ok nodata nxdomain servfail refused formerr notimp rcode-other timeout truncated malformed network-error error.`;

export const dnsKind: ProbeKind<DnsKindSettings, DnsServer> = {
  name: 'dns',
  options: DNS_OPTIONS,
  command: {
    description: 'query DNS servers: latency percentiles per resolver, rcodes, timeouts, truncation',
    argument: ['<name>', 'the name to look up'],
    helpAfter: () => DNS_HELP,
  },
  timingPhases: [
    ['tcp', 'tcpConnectMs'],
    ['tls', 'tlsHandshakeMs'],
  ],
  planWords: (c) => {
    const d = c as { servers: string[]; type: string; tcp: boolean; noFallback: boolean };
    const w = [
      `type ${d.type}`,
      `via ${d.servers.length ? d.servers.join(', ') : 'the resolvers of /etc/resolv.conf'}`,
      d.tcp ? 'over tcp' : 'over udp',
    ];
    if (d.noFallback) w.push('no tcp fallback');
    return w;
  },
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
