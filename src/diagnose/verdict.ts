import { shq } from '../shell.js';
import { PROBERS } from '../probes/registry.js';
import type { ProbeResult } from '../engine/summary.js';
import type { Phase } from '../core/types.js';
import type { AddressInfo, DiagnosePlan, DnsPhase } from './types.js';
import { resolverNext } from './resolver-next.js';

/** p99 above which a phase counts as slow (ms). */
export interface Thresholds {
  dnsMs: number;
  connectMs: number;
  tlsMs: number;
  firstByteMs: number;
}

export const DEFAULT_THRESHOLDS: Thresholds = { dnsMs: 200, connectMs: 200, tlsMs: 500, firstByteMs: 1000 };

export type Status = 'ok' | 'degraded' | 'failing';

/** One thing found in one phase. `kind` orders findings: failures before slowness, notes last. */
export interface Finding {
  phase: Phase;
  kind: 'fails' | 'slow' | 'note';
  status: Status;
  outcome: string;
  summary: string;
  evidence: string[];
  next: string[];
}

export interface Verdict {
  status: Status;
  phase: Phase | 'ok';
  outcome: string;
  summary: string;
  evidence: string[];
  next: string[];
  findings: Finding[];
}

export interface Judged {
  target: string;
  dns: DnsPhase | null;
  tcp: ProbeResult | null;
  tls: ProbeResult | null;
  http: ProbeResult | null;
  /** `--proxy`: the proxy's connect and CONNECT answer, in place of the TCP phase (src/diagnose/proxy.ts). */
  proxy?: ProbeResult | null;
  /** A resolver target's DNS queries over DoT/DoH (src/diagnose/resolver.ts). */
  resolver?: ProbeResult | null;
  addresses: AddressInfo[];
  plan: DiagnosePlan;
}

const PHASE_ORDER: Phase[] = ['dns', 'proxy', 'tunnel', 'tcp', 'starttls', 'tls', 'app'];
const KIND_ORDER = { fails: 0, slow: 1, note: 2 } as const;

/** How late this process's own timers ran in a phase's run (its largest delay), 0 when not measured. */
function ownLateness(r: ProbeResult | null | undefined): number {
  return (r?.timing as { loopLagMs?: { max: number } | null } | undefined)?.loopLagMs?.max ?? 0;
}

/**
 * A p99 over its threshold by less than this machine's own lateness is no evidence against
 * the server: every reply of the run may have waited that long in conndx's own queue. Said
 * as a note, so a busy laptop or CI runner does not turn a healthy endpoint DEGRADED.
 */
function ownLatenessNote(phase: Phase, label: string, p99: number, th: number, lag: number): Finding {
  return {
    phase,
    kind: 'note',
    status: 'ok',
    outcome: 'ok',
    summary: `${label} p99 ${ms(p99)} is over ${th} ms, but this machine was busy: conndx's own timers ran up to ${ms(lag)} late, so it is not counted as slow.`,
    evidence: [`p99 ${ms(p99)} ≤ threshold ${th} ms + this process's largest timer delay ${ms(lag)}`],
    next: ['run the diagnosis again at a quieter moment, or from another machine'],
  };
}

const f1 = (x: number) => (x >= 100 ? x.toFixed(0) : x >= 10 ? x.toFixed(1) : x.toFixed(2));
const ms = (x: number | null | undefined) => (x === null || x === undefined ? '-' : `${f1(x)} ms`);
const plural = (n: number, w: string) => `${n} ${w}${n === 1 ? '' : w.endsWith('s') ? 'es' : 's'}`;

/** The most frequent non-ok outcome of a result. */
function worstOutcome(outcomes: Record<string, number>): string | null {
  const bad = Object.entries(outcomes)
    .filter(([k]) => k !== 'ok')
    .sort((a, b) => b[1] - a[1]);
  return bad[0]?.[0] ?? null;
}

function by(res: ProbeResult | null): Record<string, ProbeResult> {
  if (!res) return {};
  return (
    (res.byTarget as Record<string, ProbeResult> | undefined) ??
    (res.byServer as Record<string, ProbeResult> | undefined) ?? { [res.target]: res }
  );
}

function outcomeList(r: ProbeResult): string {
  return Object.entries(r.outcomes)
    .sort((a, b) => b[1] - a[1])
    .map(([k, v]) => `${k} ${v}/${r.attempts}`)
    .join(', ');
}

/** `tcp:refused` in a TLS or HTTP result reads as phase tcp, outcome refused. */
function stripPrefix(outcome: string): string {
  return outcome.replace(/^(tcp|tls):/, '');
}

function judgeDns(j: Judged, th: Thresholds): Finding[] {
  const d = j.dns;
  if (!d) return [];
  const out: Finding[] = [];
  const name = j.plan.host;
  const sys = d.system;
  const servers = by(d);
  const direct = Object.entries(servers);
  const cmdServers = direct.map(([k]) => `--server ${shq(k)}`).join(' ');
  if (j.addresses.length === 0) {
    const outcome = sys.outcome !== 'ok' ? sys.outcome : (worstOutcome(d.outcomes) ?? 'nxdomain');
    const ev = [`system resolver (${sys.source}): ${sys.outcome}${sys.cause ? ` (${sys.cause})` : ''} after ${ms(sys.lookupMs)}`];
    if (sys.tried?.length) ev.push(`names tried, in order: ${sys.tried.map((t) => `${t.name} → ${t.outcome}`).join(', ')}`);
    for (const [k, r] of direct) ev.push(`${k}: ${outcomeList(r)}`);
    out.push({
      phase: 'dns',
      kind: 'fails',
      status: 'failing',
      outcome,
      summary: `${name} does not resolve: ${outcome}${direct.length ? ` from ${direct.length === 1 ? direct[0]![0] : `${direct.length} resolvers`}` : ''}, so nothing was connected to.`,
      evidence: ev,
      next: [
        `conndx dns ${shq(d.queried)} ${cmdServers} --type A`.replace(/ +/g, ' '),
        `check the name for typos and the search domains in ${j.plan.resolvConfFile ?? '/etc/resolv.conf'}`,
      ],
    });
    return out;
  }
  if (sys.outcome !== 'ok') {
    out.push({
      phase: 'dns',
      kind: 'fails',
      status: 'failing',
      outcome: sys.outcome,
      summary: `applications cannot resolve ${name} (${sys.source}: ${sys.outcome}), though the resolvers asked directly answer ${d.queried}.`,
      evidence: [
        `system resolver (${sys.source}): ${sys.outcome}${sys.cause ? ` (${sys.cause})` : ''}`,
        ...direct.map(([k, r]) => `${k}: ${outcomeList(r)}`),
      ],
      next: [
        `compare ${emulated(j) ? '' : '/etc/nsswitch.conf, '}${hostsOf(j)} and the search domains of ${resolvConfOf(j)} with what the resolvers hold`,
        ...systemLookupCheck(j, name),
      ],
    });
  }
  // Resolvers that fail some or all queries.
  const failing = direct.filter(([, r]) => r.failed > 0);
  if (failing.length && d.attempts > 0) {
    const outcome = worstOutcome(d.outcomes) ?? 'error';
    const all = failing.length === direct.length && failing.every(([, r]) => r.succeeded === 0);
    out.push({
      phase: 'dns',
      kind: 'fails',
      status: all && sys.outcome !== 'ok' ? 'failing' : 'degraded',
      outcome,
      summary: `${failing.length === 1 ? `resolver ${failing[0]![0]}` : `${failing.length} of ${direct.length} resolvers`} failed ${failing.reduce((n, [, r]) => n + r.failed, 0)} of ${failing.reduce((n, [, r]) => n + r.attempts, 0)} queries for ${d.queried} (${outcome}).`,
      evidence: failing.map(([k, r]) => `${k}: ${outcomeList(r)}`),
      next: failing.map(([k]) => `conndx dns ${shq(d.queried)} --server ${shq(k)} --count 100`),
    });
  }
  // Slow: the direct queries' p99, or the system lookup itself.
  const slowest = direct.filter(([, r]) => r.latencyMs).sort((a, b) => b[1].latencyMs!.p99 - a[1].latencyMs!.p99)[0];
  const p99 = slowest?.[1].latencyMs?.p99 ?? 0;
  const dnsLag = Math.max(ownLateness(d as unknown as ProbeResult), ...direct.map(([, r]) => ownLateness(r)));
  const overOnlyByLag = (x: number) => x > th.dnsMs && x <= th.dnsMs + dnsLag;
  if (
    (p99 > th.dnsMs || sys.lookupMs > th.dnsMs) &&
    (overOnlyByLag(p99) || p99 <= th.dnsMs) &&
    (overOnlyByLag(sys.lookupMs) || sys.lookupMs <= th.dnsMs)
  ) {
    out.push(ownLatenessNote('dns', 'DNS', Math.max(p99, sys.lookupMs), th.dnsMs, dnsLag));
  } else if (p99 > th.dnsMs || sys.lookupMs > th.dnsMs) {
    const ev = direct
      .filter(([, r]) => r.latencyMs)
      .map(
        ([k, r]) =>
          `${k}: p50 ${ms(r.latencyMs!.p50)}, p99 ${ms(r.latencyMs!.p99)}, max ${ms(r.latencyMs!.max)} over ${r.succeeded} answers`,
      );
    ev.push(`system lookup took ${ms(sys.lookupMs)}`);
    out.push({
      phase: 'dns',
      kind: 'slow',
      status: 'degraded',
      outcome: 'slow',
      summary:
        p99 > th.dnsMs
          ? `DNS has a slow tail: the slowest resolver, ${slowest![0]}, answers in p50 ${ms(slowest![1].latencyMs!.p50)} but p99 ${ms(p99)} (over ${th.dnsMs} ms).`
          : `the system lookup of ${name} took ${ms(sys.lookupMs)} (over ${th.dnsMs} ms).`,
      evidence: ev,
      next: [
        `conndx dns ${shq(d.queried)} ${slowest ? `--server ${shq(slowest[0])}` : ''} --count 500 --concurrency 20`.replace(/ +/g, ' '),
      ],
    });
  }
  // Disagreement between what applications get and what DNS says.
  const dnsAddrs = new Set(j.addresses.filter((a) => a.from.some((f) => f !== 'system')).map((a) => a.address));
  const sysOnly = sys.addresses.filter((a) => !dnsAddrs.has(a));
  const dnsOnly = [...dnsAddrs].filter((a) => !sys.addresses.includes(a));
  if (sys.outcome === 'ok' && direct.length && (sysOnly.length || dnsOnly.length)) {
    out.push({
      phase: 'dns',
      kind: 'note',
      status: 'ok',
      outcome: 'ok',
      summary: `the system resolver and DNS disagree about ${name}${sys.via === 'hosts' ? ' (the hosts file answers it)' : ''}.`,
      evidence: [
        `system (${sys.via ?? sys.source}): ${sys.addresses.join(', ') || '-'}`,
        `DNS (${direct.map(([k]) => k).join(', ')}): ${[...dnsAddrs].join(', ') || '-'}`,
      ],
      next: [...systemLookupCheck(j, name), `grep -w ${shq(name)} ${shq(hostsOf(j))}`],
    });
  }
  if (d.queried !== name.replace(/\.$/, '')) {
    out.push({
      phase: 'dns',
      kind: 'note',
      status: 'ok',
      outcome: 'ok',
      summary: `the name ${name} became ${d.queried} through the search list (ndots ${d.search.ndots}); write ${d.queried}. (with the dot) to skip the search.`,
      evidence: [
        `search ${d.search.search.join(' ') || '-'}, ndots ${d.search.ndots}; names tried: ${(sys.tried ?? []).map((t) => `${t.name} → ${t.outcome}`).join(', ') || d.search.candidates.join(', ')}`,
      ],
      next: [],
    });
  }
  return out;
}

/** The run read its own files (--resolv-conf, --hosts) instead of asking getaddrinfo. */
const emulated = (j: Judged) => Boolean(j.plan.resolvConfFile || j.plan.hostsFile);
const hostsOf = (j: Judged) => j.plan.hostsFile ?? '/etc/hosts';
const resolvConfOf = (j: Judged) => j.plan.resolvConfFile ?? '/etc/resolv.conf';

/** How applications resolve the name: getent asks the system, so it reproduces only a run that did too. */
function systemLookupCheck(j: Judged, name: string): string[] {
  return emulated(j) ? [] : [`getent ahosts ${shq(name)}`];
}

/** TCP, TLS and HTTP read alike: who fails, how, and whether the ones that work are slow. */
export function judgeConn(
  phase: Phase,
  label: string,
  res: ProbeResult | null,
  j: Judged,
  th: number,
  next: (addr: string) => string[],
  detail: (addr: string, r: ProbeResult) => string[],
): Finding[] {
  if (!res) return [];
  const out: Finding[] = [];
  const per = by(res);
  const entries = Object.entries(per);
  const failing = entries.filter(([, r]) => r.failed > 0);
  if (failing.length) {
    const outcome = stripPrefix(worstOutcome(res.outcomes) ?? 'error');
    const none = res.succeeded === 0;
    const dead = failing.filter(([, r]) => r.succeeded === 0);
    // The phase is the outcome's, as the kind says, not the probe's: a reset or close after a
    // completed TCP handshake failed the phase that came next (tls when a TLS handshake was to
    // follow, as `conndx tls` says; else app, as `conndx tcp --hold` and `pcap` say).
    const after = phase === 'tcp' && PROBERS.tcp.phaseOfOutcome(outcome) !== 'tcp';
    const at: Phase = after ? (j.plan.tls ? 'tls' : 'app') : phase;
    let summary: string;
    if (at !== phase) {
      const then = outcome === 'closed' ? 'closes it (FIN) before sending anything' : 'resets it (RST)';
      const before = j.plan.tls ? ', before the TLS handshake' : '';
      summary =
        entries.length === 1
          ? `TCP connect to ${entries[0]![0]} succeeds, then the server ${then}${before}, in ${res.failed} of ${res.attempts} attempts.`
          : `TCP connect succeeds, then the server ${then}${before}, in ${res.failed} of ${res.attempts} attempts on ${failing.length} of ${entries.length} addresses.`;
    } else if (none) {
      summary =
        entries.length === 1
          ? `${label} to ${entries[0]![0]} fails: ${describeOutcome(phase, outcome)} in ${res.failed} of ${res.attempts} attempts.`
          : `${label} fails on every address (${entries.length}): ${describeOutcome(phase, outcome)}.`;
    } else if (
      dead.length &&
      familySplit(
        dead.map(([k]) => k),
        entries.map(([k]) => k),
      )
    ) {
      const fam = familySplit(
        dead.map(([k]) => k),
        entries.map(([k]) => k),
      )!;
      summary = `${label} fails over IPv${fam.bad} (${dead.map(([k]) => k).join(', ')}: ${describeOutcome(phase, stripPrefix(worstOutcome(dead[0]![1].outcomes) ?? outcome))}) while IPv${fam.good} works; clients that try IPv${fam.bad} first fail or wait for the fallback.`;
    } else if (dead.length) {
      summary = `${label} fails on ${dead.map(([k]) => k).join(', ')} (${describeOutcome(phase, stripPrefix(worstOutcome(dead[0]![1].outcomes) ?? outcome))}) while ${entries.length - dead.length} other address${entries.length - dead.length === 1 ? '' : 'es'} work${entries.length - dead.length === 1 ? 's' : ''}; clients that pick the failing one fail.`;
    } else {
      summary = `${label} fails intermittently: ${res.failed} of ${res.attempts} attempts (${describeOutcome(phase, outcome)}).`;
    }
    const evidence: string[] = [];
    const early = res.stoppedEarly as { after: number; of: number; timeoutMs: number } | undefined;
    if (early)
      evidence.push(
        `stopped after ${early.after} identical timeouts of ${ms(early.timeoutMs)} on every address (of --count ${early.of}): more would only wait longer`,
      );
    for (const [k, r] of entries) {
      evidence.push(`${k}: ${outcomeList(r)}${r.errors ? `; ${Object.keys(r.errors).join('; ')}` : ''}`);
      evidence.push(...detail(k, r));
    }
    // A client-error status (4xx) without --expect-status: the server works, the URL or the
    // request is wrong (degraded); a 5xx, or a status --expect-status rules out, is failing.
    const clientError =
      at === 'app' && !j.plan.expectStatus && Object.keys(res.outcomes).every((k) => k === 'ok' || /^http-4\d\d$/.test(k));
    out.push({
      phase: at,
      kind: 'fails',
      status: none && !clientError ? 'failing' : 'degraded',
      outcome,
      summary,
      evidence,
      next: [...new Set((dead.length ? dead : failing).flatMap(([k]) => next(k)))],
    });
  }
  const over = entries.filter(([, r]) => r.latencyMs && r.latencyMs.p99 > th);
  const slow = over
    .filter(([, r]) => r.latencyMs!.p99 > th + Math.max(ownLateness(r), ownLateness(res)))
    .sort((a, b) => b[1].latencyMs!.p99 - a[1].latencyMs!.p99);
  if (!slow.length && over.length) {
    const [, r] = over.sort((a, b) => b[1].latencyMs!.p99 - a[1].latencyMs!.p99)[0]!;
    out.push(ownLatenessNote(phase, label, r.latencyMs!.p99, th, Math.max(ownLateness(r), ownLateness(res))));
  }
  if (slow.length) {
    const [k, r] = slow[0]!;
    out.push({
      phase,
      kind: 'slow',
      status: 'degraded',
      outcome: 'slow',
      summary: `${label} is slow on ${k}: p50 ${ms(r.latencyMs!.p50)}, p99 ${ms(r.latencyMs!.p99)} (over ${th} ms).`,
      evidence: slow
        .map(([a, x]) => `${a}: p50 ${ms(x.latencyMs!.p50)}, p99 ${ms(x.latencyMs!.p99)}, max ${ms(x.latencyMs!.max)}`)
        .concat(slow.flatMap(([a, x]) => detail(a, x))),
      next: next(k),
    });
  }
  return out;
}

const familyOf = (key: string) => (key.startsWith('[') ? 6 : 4);

/** When every failing address is of one family and every working one of the other. */
function familySplit(dead: string[], all: string[]): { bad: 4 | 6; good: 4 | 6 } | null {
  const alive = all.filter((k) => !dead.includes(k));
  const bad = new Set(dead.map(familyOf));
  const good = new Set(alive.map(familyOf));
  if (bad.size !== 1 || good.size !== 1) return null;
  const [b] = bad as Set<4 | 6>;
  const [g] = good as Set<4 | 6>;
  return b === g ? null : { bad: b!, good: g! };
}

const OUTCOME_WORDS: Record<string, string> = {
  refused: 'refused (RST in reply to the SYN: nothing listens, or a firewall rejects)',
  timeout: 'timeout',
  unreachable: 'unreachable (ICMP host/net unreachable)',
  reset: 'reset (RST)',
  closed: 'closed (FIN)',
  'cert-expired': "cert-expired (the server's certificate is past its notAfter date)",
  'cert-not-yet-valid': "cert-not-yet-valid (the certificate's notBefore is in the future: a clock or a premature rollout)",
  'cert-hostname-mismatch': 'cert-hostname-mismatch (the certificate does not name the host asked for)',
  'cert-untrusted': 'cert-untrusted (the chain does not lead to a trusted root)',
  'cert-chain-incomplete': 'cert-chain-incomplete (the server does not send the intermediate certificate)',
  'not-tls': 'not-tls (the port answers in plaintext, not TLS: a plain service there, or the wrong port)',
};

function describeOutcome(phase: Phase, outcome: string): string {
  if (phase === 'tcp' && outcome === 'timeout')
    return 'timeout (the SYN was never answered: dropped by a firewall, a full accept queue, or a dead host)';
  if (phase === 'tls' && outcome === 'reset') return 'reset (RST right after the ClientHello, as an SNI filter or a non-TLS service does)';
  if (phase === 'tls' && outcome === 'timeout') return 'timeout (no complete handshake: the server stalled after the ClientHello)';
  if (outcome.startsWith('alert:')) return `${outcome} (the server refused the handshake with this TLS alert)`;
  if (/^http-4\d\d$/.test(outcome))
    return `${outcome} (a client-error status: the path, Host or credentials are not what the server serves)`;
  if (/^http-5\d\d$/.test(outcome)) return `${outcome} (the server's own error)`;
  return OUTCOME_WORDS[outcome] ?? outcome;
}

function tcpDetail(_k: string, r: ProbeResult): string[] {
  const n = (r.synRetransmitSuspected as number | undefined) ?? 0;
  return n > 0 ? [`  SYN retransmission suspected in ${n} of ${r.attempts} attempts (Linux resends an unanswered SYN after 1 s)`] : [];
}

function tlsDetail(_k: string, r: ProbeResult): string[] {
  const out: string[] = [];
  const cert = r.certificate as
    | { subject: string; notAfter: string; notBefore: string; daysLeft: number; issuer: string; selfSigned: boolean }
    | undefined;
  const problem = r.certProblem as { outcome: string; cause: string } | undefined;
  if (cert && (problem || r.failed > 0)) {
    out.push(
      `  certificate ${cert.subject}, issuer ${cert.issuer}, valid ${cert.notBefore} to ${cert.notAfter}${cert.daysLeft < 0 ? ` (expired ${-cert.daysLeft} days ago)` : ` (${cert.daysLeft} days left)`}`,
    );
  }
  if (problem) out.push(`  ${problem.outcome}: ${problem.cause}`);
  if (typeof r.answeredWith === 'string') out.push(`  the server answered in plaintext: ${r.answeredWith}`);
  return out;
}

function httpDetail(_k: string, r: ProbeResult): string[] {
  const st = r.statuses as Record<string, number> | undefined;
  return st
    ? [
        `  HTTP status: ${Object.entries(st)
          .map(([s, n]) => `${s} ×${n}`)
          .join(', ')}`,
      ]
    : [];
}

/** The flags that make a suggested `conndx diagnose ADDR` resolve, name and trust as this run did (its SNI kept for an address). */
function diagnoseFlags(j: Judged): string {
  const flags = [...(j.plan.reproduceDiagnose ?? [])];
  if (j.plan.sni && !flags.includes('--sni')) flags.push('--sni', j.plan.sni);
  // An address on a port that is not a TLS port by default: TLS as this run did.
  if (j.plan.tls && !j.plan.starttls) flags.push('--tls');
  if (!j.plan.tls) {
    // A plain TCP target: the TLS flags mean nothing to it.
    for (const f of ['--sni', '--ca', '--insecure']) {
      const i = flags.indexOf(f);
      if (i >= 0) flags.splice(i, f === '--insecure' ? 1 : 2);
    }
  }
  return flags.map((f) => ` ${shq(f)}`).join('');
}

/** ` -CAfile FILE` for openssl when the run trusted a --ca file. */
function caFileOf(flags: string[] | undefined): string {
  const i = flags?.indexOf('--ca') ?? -1;
  return i >= 0 && flags![i + 1] ? ` -CAfile ${shq(flags![i + 1]!)}` : '';
}

/** The first phase that fails, else the first that is slow; the status is that finding's. `extra`: findings of phases judged elsewhere. */
export function judge(j: Judged, thresholds: Partial<Thresholds> = {}, extra: Finding[] = []): Verdict {
  const th = { ...DEFAULT_THRESHOLDS, ...thresholds };
  const port = j.plan.port;
  const sni = j.plan.sni ? ` --sni ${shq(j.plan.sni)}` : '';
  const px = j.plan.proxy ? ` --proxy ${shq(j.plan.proxy)}` : '';
  const findings: Finding[] = [
    ...judgeDns(j, th),
    ...judgeConn(
      'tcp',
      'TCP connect',
      j.tcp,
      j,
      th.connectMs,
      (k) => [`conndx tcp ${shq(k)} --count 20 --timeout 5s`, `sudo conndx diagnose ${shq(k)} --capture${diagnoseFlags(j)}`],
      tcpDetail,
    ),
    ...judgeConn(
      // A STARTTLS refusal is the upgrade's finding, not the handshake's.
      j.plan.starttls && Object.keys(j.tls?.outcomes ?? {}).some((x) => x.startsWith('starttls-')) ? 'starttls' : 'tls',
      j.plan.starttls && Object.keys(j.tls?.outcomes ?? {}).some((x) => x.startsWith('starttls-'))
        ? `STARTTLS (${j.plan.starttls})`
        : 'TLS handshake',
      j.tls,
      j,
      th.tlsMs,
      (k) => [
        ...(j.plan.resolver ? [resolverNext(j.plan, k)] : []),
        `conndx tls ${shq(k)}${sni}${px}${j.plan.starttls ? ` --starttls ${j.plan.starttls}` : ''}${(j.plan.reproduceTls ?? []).map((f) => ` ${shq(f)}`).join('')} --versions`,
        `openssl s_client -connect ${shq(k)}${j.plan.proxy ? ` -proxy ${shq(new URL(j.plan.proxy).host)}` : ''}${j.plan.starttls ? ` -starttls ${j.plan.starttls}` : ''}${j.plan.sni ? ` -servername ${shq(j.plan.sni)}` : ''}${caFileOf(j.plan.reproduceTls)} </dev/null`,
      ],
      tlsDetail,
    ),
    ...judgeConn(
      'app',
      'HTTP',
      j.http,
      j,
      th.firstByteMs,
      (k) => [
        `curl -sv ${shq(`${j.plan.tls ? 'https' : 'http'}://${j.plan.host.includes(':') ? `[${j.plan.host}]` : j.plan.host}:${port}${j.plan.path ?? '/'}`)} ${j.plan.proxy ? `--proxy ${shq(j.plan.proxy)}` : `--connect-to ${shq(`::${k}`)}`}`,
      ],
      httpDetail,
    ),
    ...extra,
  ];
  // Connection outcomes that belong to an earlier phase (tcp:refused seen by the TLS probe) are judged by that phase.
  findings.sort((a, b) => KIND_ORDER[a.kind] - KIND_ORDER[b.kind] || PHASE_ORDER.indexOf(a.phase) - PHASE_ORDER.indexOf(b.phase));
  const top = findings.find((f) => f.kind !== 'note');
  const notes = findings.filter((f) => f.kind === 'note');
  if (!top) {
    return {
      status: 'ok',
      phase: 'ok',
      outcome: 'ok',
      summary: healthySummary(j),
      evidence: notes.flatMap((n) => [n.summary, ...n.evidence]),
      next: notes.flatMap((n) => n.next),
      findings,
    };
  }
  const others = findings.filter((f) => f !== top && f.kind !== 'note');
  const status: Status = findings.some((f) => f.status === 'failing') ? 'failing' : 'degraded';
  return {
    status,
    phase: top.phase,
    outcome: top.outcome,
    summary: top.summary,
    evidence: [
      ...top.evidence,
      ...others.map((f) => `also (${f.phase}): ${f.summary}`),
      ...notes.map((n) => `note (${n.phase}): ${n.summary}`),
    ],
    next: [...new Set([...top.next, ...others.flatMap((f) => f.next).slice(0, 2)])],
    findings,
  };
}

function healthySummary(j: Judged): string {
  const parts: string[] = [];
  if (j.dns) parts.push(`${j.plan.host} → ${plural(j.addresses.length, 'address')} (lookup ${ms(j.dns.system.lookupMs)})`);
  else parts.push(plural(j.addresses.length, 'address'));
  if (j.tcp?.latencyMs) parts.push(`connect p50 ${ms(j.tcp.latencyMs.p50)}`);
  const pc = j.proxy?.proxyConnectMs as { p50: number } | undefined;
  const pt = j.proxy?.tunnelMs as { p50: number } | undefined;
  if (j.plan.proxy && pc && pt) parts.push(`proxy ${j.plan.proxy} connect p50 ${ms(pc.p50)}, CONNECT p50 ${ms(pt.p50)}`);
  const neg = j.tls?.negotiated as { version?: string } | undefined;
  if (j.tls?.latencyMs) parts.push(`${neg?.version ?? 'TLS'} p50 ${ms(j.tls.latencyMs.p50)}`);
  const st = j.http?.statuses as Record<string, number> | undefined;
  const protocols = Object.keys((j.http?.protocols as Record<string, number> | undefined) ?? {});
  const over = protocols.length ? ` over ${protocols.map((p) => (p === 'h2' ? 'HTTP/2' : p.toUpperCase())).join('+')}` : '';
  if (j.http?.latencyMs) parts.push(`HTTP ${Object.keys(st ?? {}).join('/')}${over} first byte p50 ${ms(j.http.latencyMs.p50)}`);
  const rp = j.plan.resolver;
  if (rp && j.resolver?.latencyMs) {
    const q = (j.resolver.queryMs as { p50: number } | undefined) ?? j.resolver.latencyMs;
    parts.push(
      `${rp.transport === 'dot' ? 'DoT' : 'DoH'} ${rp.name} ${rp.type} ${Object.keys(j.resolver.rcodes ?? {}).join('/')} query p50 ${ms(q.p50)}`,
    );
  }
  return `healthy: ${parts.join(', ')}; every attempt of every phase succeeded.`;
}
