import { isIP } from 'node:net';
import { now } from '../core/clock.js';
import { executeProbe, type ExecOptions } from '../engine/execute.js';
import { createHistogram, decodeHistogram, roundStats } from '../core/histogram.js';
import type { ProbeResult } from '../engine/summary.js';
import type { DnsServer } from '../probes/dns.js';
import type { TlsProbeOptions } from '../probes/tls.js';
import type { ResolvedTarget } from '../probes/kinds/kind.js';
import { PROBERS } from '../probes/registry.js';
import type { StarttlsProtocol } from '../probes/starttls.js';
import type { LookupFn } from '../probes/resolve.js';
import { emptyResult } from '../core/types.js';
import { makeMeta, conndxVersion, type Meta } from '../core/meta.js';
import { alpnFor, type HttpProtocolChoice } from '../probes/http.js';
import { addressesOf, emulateStub, systemLookup } from './lookup.js';
import { sourceAddress } from './source.js';
import { searchCandidates, type ResolvConf } from '../probes/resolv-conf.js';
import { TLS_PORTS, type DiagnoseTarget } from './target.js';
import { judge, type Judged, type Thresholds, type Verdict } from './verdict.js';
import type { AddressInfo, DiagnosePlan, DnsPhase } from './types.js';
import { proxiedAddress, proxyFindings, runProxyPhase } from './proxy.js';
import type { ProxyConfig } from '../probes/proxy.js';
import { DEFAULT_THRESHOLDS } from './verdict.js';
import { RESOLVER_DEFAULT_QUERY, resolverAlpn, resolverFindings, resolverPlan, runResolverQueries } from './resolver.js';

export type { AddressInfo, DiagnosePlan, DnsPhase };

/** The phases as judged (`Judged`), the verdict on them, and the run's own facts. */
export interface DiagnoseResult extends Judged {
  verdict: Verdict;
  capture?: CaptureReport;
  elapsedMs: number;
  /** Cut short (Ctrl-C): the phases that ran, judged; those after were not run. */
  interrupted?: boolean;
  /** Written with --redact: names, addresses, paths and queries are placeholders. */
  redacted?: boolean;
  meta: Meta;
}

export interface DiagnoseOptions {
  target: DiagnoseTarget;
  count: number;
  timeoutMs: number;
  /** Attempts in flight (default: one per address, so addresses are probed side by side). */
  concurrency?: number;
  /** Retries per attempt and the circuit breaker, as for the probes. */
  retries?: number;
  breaker?: number;
  family: 0 | 4 | 6;
  /** Resolvers to ask directly (default: the nameservers of `resolvConf`). */
  servers?: DnsServer[];
  resolvConf: ResolvConf;
  /** Emulate the stub resolver from these files instead of calling getaddrinfo. */
  emulate?: { hosts: Map<string, string[]> };
  /** Force TLS on or off (default: by scheme or port). */
  tls?: boolean;
  tlsOptions?: Omit<TlsProbeOptions, 'timeoutMs' | 'family'>;
  sni?: string;
  /** Send one HTTP GET (default: for http:// and https:// targets). */
  httpPath?: string | null;
  /** Flags a suggested `conndx tls` needs to reproduce this run (the trust and client certificate it used). */
  reproduceTls?: string[];
  /** The files the run read instead of the system's, and the flags that make a suggested `conndx diagnose` see the same. */
  resolvConfFile?: string;
  hostsFile?: string;
  reproduceDiagnose?: string[];
  /** HTTP statuses that count as healthy (default: below 400; a 4xx is then DEGRADED, a 5xx FAILING). */
  expectStatus?: [number, number][];
  /** `--proxy`: every connection through this HTTP CONNECT proxy; the proxy resolves the target's name. */
  proxy?: ProxyConfig;
  /** A resolver target's query (default: `.` NS). */
  resolverQuery?: { name: string; type: number };
  /** The HTTP phase's protocol (default `auto`: ALPN h2,http/1.1, HTTP/2 when the server picks h2). */
  httpProtocol?: HttpProtocolChoice;
  thresholds?: Partial<Thresholds>;
  signal?: AbortSignal;
  argv?: readonly string[];
  /** Progress, one line per phase (stderr in the CLI). */
  onProgress?: (line: string) => void;
  lookup?: LookupFn;
  /** Packet capture around the connection phases (`--capture`). */
  capture?: CaptureHooks;
}

/** Started once the addresses are known, stopped after the last phase; its evidence joins the verdict. */
export interface CaptureHooks {
  start(addresses: AddressInfo[], port: number): Promise<void>;
  stop(addresses: AddressInfo[]): Promise<CaptureReport>;
}

export interface CaptureReport {
  ok: boolean;
  /** Why there is no capture, in one line. */
  reason?: string;
  /** Packet-level evidence, one sentence each. */
  lines: string[];
  /** Per address key: what the packets say. */
  byAddress?: Record<string, unknown>;
  /** The capture analysis' own summary figures. */
  summary?: unknown;
  file?: string;
}

/** What the chain will do for a target, decided up front. */
export function planOf(o: DiagnoseOptions): DiagnosePlan {
  const t = o.target;
  const starttls = o.tlsOptions?.starttls ?? t.starttls;
  const tls = o.tls ?? (starttls || t.resolver ? true : t.scheme ? t.scheme === 'https' : TLS_PORTS.has(t.port));
  const path = t.resolver ? null : o.httpPath !== undefined ? o.httpPath : t.path;
  const sni = o.sni ?? (t.family === 0 ? t.host : null);
  const servers = (o.servers ?? o.resolvConf.nameservers).map((s) => s.key);
  return {
    host: t.host,
    port: t.port,
    tls,
    http: path !== null,
    path,
    sni,
    httpProtocol: o.httpProtocol ?? 'auto',
    ...(starttls && tls ? { starttls } : {}),
    count: o.count,
    timeoutMs: o.timeoutMs,
    family: o.family,
    servers,
    ...(o.expectStatus ? { expectStatus: o.expectStatus } : {}),
    ...(o.reproduceTls?.length ? { reproduceTls: o.reproduceTls } : {}),
    ...(o.proxy ? { proxy: o.proxy.url } : {}),
    ...(t.resolver ? { resolver: resolverPlan(t.resolver, o.resolverQuery ?? RESOLVER_DEFAULT_QUERY) } : {}),
    ...(o.resolvConfFile ? { resolvConfFile: o.resolvConfFile } : {}),
    ...(o.hostsFile ? { hostsFile: o.hostsFile } : {}),
    ...(o.reproduceDiagnose?.length ? { reproduceDiagnose: o.reproduceDiagnose } : {}),
  };
}

/** Identical timeouts in a row (on every address, none answered) after which a connection phase stops and concludes. */
export const STOP_AFTER_TIMEOUTS = 3;

/** How long diagnose watches a plain TCP service after the handshake for a reset or close. */
export const DIAGNOSE_TCP_WATCH_MS = 500;
const round = (x: number) => Math.round(x * 1000) / 1000;
const hostPort = (a: string, port: number) => (isIP(a) === 6 ? `[${a}]:${port}` : `${a}:${port}`);

/** Every phase result carries byTarget keyed by address:port, even for one address, so scripts read one shape. */
function keyed(res: ProbeResult, keys: string[]): ProbeResult {
  delete res.meta;
  if (!res.byTarget && keys.length === 1) {
    const { histograms: _h, ...one } = res;
    res.byTarget = { [keys[0]!]: { ...one, target: keys[0]! } };
  }
  return res;
}

/** The per-address results of a phase (its byTarget, or itself when there was one address). */
export function perAddress(res: ProbeResult | null): Record<string, ProbeResult> {
  if (!res) return {};
  const by = res.byTarget as Record<string, ProbeResult> | undefined;
  if (by) return by;
  return { [res.target]: res };
}

/** Combines the A and AAAA runs into one result: counts summed, histograms merged, per server. */
function combineDns(name: string, runs: ProbeResult[], servers: string[]): ProbeResult {
  const merge = (parts: ProbeResult[], target: string): ProbeResult => {
    const h = createHistogram();
    const outcomes: Record<string, number> = {};
    const rcodes: Record<string, number> = {};
    let attempts = 0,
      succeeded = 0,
      elapsed = 0;
    const answers: string[] = [];
    const errors: Record<string, number> = {};
    for (const p of parts) {
      attempts += p.attempts;
      succeeded += p.succeeded;
      elapsed = Math.max(elapsed, p.elapsedMs);
      for (const [k, v] of Object.entries(p.outcomes)) outcomes[k] = (outcomes[k] ?? 0) + v;
      for (const [k, v] of Object.entries((p.rcodes ?? {}) as Record<string, number>)) rcodes[k] = (rcodes[k] ?? 0) + v;
      for (const [k, v] of Object.entries(p.errors ?? {})) errors[k] = (errors[k] ?? 0) + v;
      if (p.histograms?.latency) h.merge(decodeHistogram(p.histograms.latency));
      if (Array.isArray(p.answers)) answers.push(...(p.answers as string[]));
    }
    const r: ProbeResult = {
      probe: 'dns',
      target,
      attempts,
      succeeded,
      failed: attempts - succeeded,
      elapsedMs: elapsed,
      latencyMs: roundStats(h.stats()),
      outcomes,
      rcodes,
      answers,
      histograms: { latency: h.encode() },
    };
    if (Object.keys(errors).length) r.errors = errors;
    return r;
  };
  const total = merge(runs, name);
  const byServer: Record<string, ProbeResult> = {};
  for (const s of servers) {
    const parts = runs
      .map((r) => (r.byServer ? (r.byServer as Record<string, ProbeResult>)[s] : r))
      .filter((x): x is ProbeResult => Boolean(x));
    byServer[s] = merge(parts, s);
  }
  // byServer even for one resolver: scripts and the verdict read one shape.
  total.byServer = byServer;
  return total;
}

/**
 * The chain: resolve the name both ways, then TCP to every address, TLS
 * where the scheme or port calls for it, one HTTP request where asked,
 * `count` attempts per phase and address; then the verdict. A phase runs
 * only for the addresses where the phase before it succeeded at least once.
 */
export async function runDiagnosis(o: DiagnoseOptions): Promise<DiagnoseResult> {
  const startedAt = new Date().toISOString();
  const t0 = now();
  const plan = planOf(o);
  const signal = o.signal ?? new AbortController().signal;
  const say = o.onProgress ?? (() => {});
  const exec = (targets: number, timeoutMs = o.timeoutMs): ExecOptions => ({
    count: o.count,
    concurrency: o.concurrency ?? Math.max(1, targets),
    timeoutMs,
    retries: o.retries,
    breaker: o.breaker,
    signal,
    argv: o.argv,
  });

  /**
   * The options of a connection phase that stops early: once every address has timed out
   * STOP_AFTER_TIMEOUTS times in a row and none answered, more of the same proves nothing and
   * costs --timeout each. `stopped()` says whether it did (the phase result then carries
   * `stoppedEarly`).
   */
  const phaseExec = (targets: number, timeoutMs: number) => {
    const stop = new AbortController();
    const outer = () => stop.abort();
    signal.addEventListener('abort', outer, { once: true });
    const streak = new Map<string, number>();
    let answered = false;
    let stopped = false;
    const base = exec(targets, timeoutMs);
    const opts: ExecOptions = {
      ...base,
      signal: stop.signal,
      onAttempt: (r) => {
        if (r.outcome === 'timeout' || r.outcome === 'tcp:timeout') streak.set(r.target, (streak.get(r.target) ?? 0) + 1);
        else answered = true;
        const all = streak.size === targets && [...streak.values()].every((n) => n >= STOP_AFTER_TIMEOUTS);
        if (!answered && all && (o.count ?? 0) > STOP_AFTER_TIMEOUTS && !stop.signal.aborted) {
          stopped = true;
          stop.abort();
        }
      },
    };
    return {
      opts,
      done(res: ProbeResult) {
        signal.removeEventListener('abort', outer);
        if (stopped && !signal.aborted) {
          res.stoppedEarly = { after: STOP_AFTER_TIMEOUTS, outcome: 'timeout', of: o.count, timeoutMs };
          delete (res.timing as { interrupted?: boolean } | undefined)?.interrupted;
        }
        return res;
      },
    };
  };

  const t = o.target;
  let dns: DnsPhase | null = null;
  const addresses: AddressInfo[] = [];
  const add = (a: string, from: string) => {
    const fam = isIP(a) as 4 | 6;
    if (!fam || (o.family && fam !== o.family)) return;
    const have = addresses.find((x) => x.address === a);
    if (have) {
      if (!have.from.includes(from)) have.from.push(from);
      return;
    }
    addresses.push({ address: a, family: fam, key: hostPort(a, t.port), from: [from] });
  };

  if (o.proxy) {
    // The proxy resolves the name (CONNECT names it as written): there is no DNS phase here.
    addresses.push(proxiedAddress(t.host, t.port, t.family));
  } else if (t.family !== 0) {
    add(t.host, 'literal');
  } else {
    const servers: DnsServer[] = o.servers ?? o.resolvConf.nameservers.map((n) => ({ key: n.key, address: n.address, port: n.port }));
    say(
      `resolving ${t.host} (${o.emulate ? 'stub resolver emulated' : 'getaddrinfo'}, and ${servers.length} resolver${servers.length === 1 ? '' : 's'} directly)`,
    );
    // A resolv.conf without nameservers (e.g. --resolv-conf /dev/null) leaves the stub the --server list.
    const stubConf = o.resolvConf.nameservers.length
      ? o.resolvConf
      : { ...o.resolvConf, nameservers: servers.map((s) => ({ key: s.key, address: s.address, port: s.port })) };
    const emulated = await emulateStub(t.host, stubConf, o.emulate?.hosts ?? new Map(), o.family, o.timeoutMs, signal);
    const system = o.emulate ? emulated : { ...(await systemLookup(t.host, o.family, o.lookup)), answeredAs: emulated.answeredAs ?? null };
    const candidates = searchCandidates(t.host, o.resolvConf);
    const queried = (emulated.via === 'dns' && emulated.answeredAs) || t.host.replace(/\.$/, '');
    const types = o.family === 4 ? [1] : o.family === 6 ? [28] : [1, 28];
    const byType: Record<string, ProbeResult> = {};
    const runs: ProbeResult[] = [];
    if (servers.length > 0) {
      for (const type of types) {
        const { plan: p, close } = await PROBERS.dns.plan(
          {
            name: queried,
            type,
            tcp: false,
            noFallback: false,
            timeoutMs: o.timeoutMs,
            decodeAnswers: true,
            // An empty answer (no AAAA, say) is a finding of the address list, not a failed lookup here.
            nodata: 'ok',
          },
          servers,
        );
        try {
          const { result } = await executeProbe(p, exec(servers.length));
          delete result.meta;
          byType[type === 1 ? 'A' : 'AAAA'] = result;
          runs.push(result);
        } finally {
          close();
        }
      }
    }
    const combined = runs.length
      ? combineDns(
          queried,
          runs,
          servers.map((s) => s.key),
        )
      : emptyResult('dns', queried);
    dns = { ...combined, queried, byType, system, search: { search: o.resolvConf.search, ndots: o.resolvConf.ndots, candidates } };
    for (const a of system.addresses) add(a, 'system');
    const perServer = (combined.byServer as Record<string, ProbeResult> | undefined) ?? (servers[0] ? { [servers[0].key]: combined } : {});
    for (const [k, r] of Object.entries(perServer)) for (const a of addressesOf(r.answers)) add(a, k);
  }

  let tcp: ProbeResult | null = null;
  let proxyRes: ProbeResult | null = null;
  let tlsRes: ProbeResult | null = null;
  let http: ProbeResult | null = null;
  const label = hostPort(t.host, t.port);
  let capturing = false;
  // Through a proxy the only address is the target as CONNECT names it: the source is the proxy's to pick.
  if (!o.proxy) await Promise.all(addresses.map(async (a) => (a.source = await sourceAddress(a.address, a.family, t.port))));
  if (o.capture && addresses.length && !o.proxy) {
    await o.capture.start(addresses, t.port);
    capturing = true;
  }
  // Every phase is planned by its kind (probes/registry.ts), as `conndx tcp|tls` plan theirs; the
  // SNI and Host header come from the target as asked (a name, or the literal and no SNI).
  const resolvedOf = (list: AddressInfo[]): ResolvedTarget[] =>
    list.map((a) => ({
      key: a.key,
      host: t.host,
      hostFamily: t.family,
      address: a.address,
      family: a.family,
      port: t.port,
      lookupMs: null,
    }));
  if (o.proxy && addresses.length && !signal.aborted) {
    say(`proxy ${o.proxy.url}: connect and CONNECT ${addresses.map((a) => a.key).join(', ')}`);
    proxyRes = await runProxyPhase({
      proxy: o.proxy,
      addresses,
      port: t.port,
      timeoutMs: o.timeoutMs,
      exec: exec(addresses.length),
      label,
    });
  } else if (addresses.length && !signal.aborted) {
    say(`tcp to ${addresses.map((a) => a.key).join(', ')}`);
    const targets = resolvedOf(addresses);
    // A plain TCP service (no TLS or HTTP phase after) is watched briefly after the handshake, so a
    // server that accepts and then resets or closes is seen, as `conndx tcp --hold` sees it.
    const holdMs = plan.tls || plan.http ? 0 : Math.min(DIAGNOSE_TCP_WATCH_MS, o.timeoutMs);
    const built = await PROBERS.tcp.plan({ timeoutMs: o.timeoutMs, holdMs, close: 'fin' }, targets);
    const ph = phaseExec(targets.length, built.engineTimeoutMs);
    ({ result: tcp } = await executeProbe({ ...built.plan, label }, ph.opts));
    ph.done(tcp);
    keyed(
      tcp,
      targets.map((x) => x.key),
    );
  }
  const okAt = (res: ProbeResult | null) => addresses.filter((a) => (perAddress(res)[a.key]?.succeeded ?? 0) > 0);
  if (plan.tls && (tcp || proxyRes) && !signal.aborted) {
    const up = okAt(proxyRes ?? tcp);
    if (up.length) {
      say(`tls to ${up.map((a) => a.key).join(', ')}${plan.sni ? ` (sni ${plan.sni})` : ''}`);
      const targets = resolvedOf(up);
      // The TLS phase offers what the HTTP phase will (h2,http/1.1 by default), so an ALPN refusal shows where it happens.
      const probe = {
        ...o.tlsOptions,
        ...(o.tlsOptions?.alpn === undefined && plan.http ? { alpn: alpnFor(plan.httpProtocol) } : {}),
        ...(o.tlsOptions?.alpn === undefined && plan.resolver ? { alpn: resolverAlpn(plan.resolver.transport) } : {}),
        ...(plan.starttls ? { starttls: plan.starttls as StarttlsProtocol } : {}),
        timeoutMs: o.timeoutMs,
      };
      const proxies = o.proxy ? new Map(targets.map((x) => [x.key, o.proxy!])) : undefined;
      const built = await PROBERS.tls.plan({ probe, sni: plan.sni ?? undefined, ...(proxies ? { proxies } : {}) }, targets);
      const ph = phaseExec(targets.length, built.engineTimeoutMs);
      ({ result: tlsRes } = await executeProbe({ ...built.plan, label }, ph.opts));
      ph.done(tlsRes);
      keyed(
        tlsRes,
        targets.map((x) => x.key),
      );
    }
  }
  if (plan.http && !signal.aborted) {
    const up = okAt(plan.tls ? tlsRes : (proxyRes ?? tcp));
    if (up.length) {
      say(`http GET ${plan.path} on ${up.map((a) => a.key).join(', ')}`);
      const targets = resolvedOf(up);
      const built = await PROBERS.http.plan(
        {
          tls: plan.tls,
          ...(plan.sni ? { sni: plan.sni } : {}),
          path: plan.path ?? '/',
          timeoutMs: o.timeoutMs,
          ca: o.tlsOptions?.ca,
          cert: o.tlsOptions?.cert,
          key: o.tlsOptions?.key,
          userAgent: `conndx/${conndxVersion()}`,
          ...(o.expectStatus ? { expectStatus: o.expectStatus } : {}),
          protocol: plan.httpProtocol,
          ...(o.proxy ? { proxy: o.proxy } : {}),
        },
        targets,
      );
      ({ result: http } = await executeProbe({ ...built.plan, label: t.raw }, exec(targets.length, built.engineTimeoutMs)));
      keyed(
        http,
        targets.map((x) => x.key),
      );
    }
  }

  let resolver: ProbeResult | null = null;
  if (plan.resolver && !signal.aborted) {
    const up = okAt(tlsRes);
    if (up.length) {
      say(`${plan.resolver.transport} queries ${plan.resolver.name} ${plan.resolver.type} to ${up.map((a) => a.key).join(', ')}`);
      resolver = await runResolverQueries({
        plan: { ...plan, resolver: plan.resolver },
        query: o.resolverQuery ?? RESOLVER_DEFAULT_QUERY,
        up,
        port: t.port,
        ca: o.tlsOptions?.ca,
        insecure: o.tlsOptions?.insecure,
        timeoutMs: o.timeoutMs,
        exec: exec(up.length),
        label: t.raw,
      });
    }
  }

  const capture = capturing ? await o.capture!.stop(addresses) : undefined;
  const partial = {
    target: t.raw,
    dns,
    tcp,
    ...(o.proxy ? { proxy: proxyRes } : {}),
    tls: tlsRes,
    http,
    ...(plan.resolver ? { resolver } : {}),
    addresses,
    plan,
  };
  const verdict = judge(partial, o.thresholds, [
    ...proxyFindings(partial, { ...DEFAULT_THRESHOLDS, ...o.thresholds }),
    ...resolverFindings(partial, o.thresholds),
  ]);
  // Ctrl-C: "healthy, every phase succeeded" would vouch for phases that never ran or never finished.
  if (signal.aborted && verdict.status === 'ok') {
    const planned: [Verdict['phase'], ProbeResult | null][] = o.proxy ? [['proxy', proxyRes]] : [['tcp', tcp]];
    if (plan.tls) planned.push(['tls', tlsRes]);
    if (plan.http) planned.push(['app', http]);
    if (plan.resolver) planned.push(['app', resolver]);
    const cut = planned.find(([, res]) => res === null)?.[0] ?? planned[planned.length - 1]?.[0] ?? 'dns';
    verdict.status = 'degraded';
    verdict.phase = cut;
    verdict.outcome = 'interrupted';
    verdict.summary = `interrupted (Ctrl-C) before the ${cut === 'app' ? (plan.resolver ? 'query' : 'http') : cut} phase finished; what ran: ${verdict.summary.replace(/^healthy: /, '').replace(/; every attempt of every phase succeeded\.?$/, '.')}`;
  }
  if (capture?.lines.length)
    verdict.evidence.splice(
      verdict.findings.length && verdict.status !== 'ok' ? firstEvidenceCount(verdict) : verdict.evidence.length,
      0,
      ...capture.lines.map((l) => `capture: ${l}`),
    );
  const { target, ...phases } = partial;
  return {
    target,
    verdict,
    ...phases,
    ...(capture ? { capture } : {}),
    elapsedMs: round(now() - t0),
    ...(signal.aborted ? { interrupted: true } : {}),
    meta: makeMeta(o.argv ?? [], startedAt),
  };
}

/** Where the top finding's own evidence ends (packet evidence goes right after it). */
function firstEvidenceCount(v: Verdict): number {
  const top = v.findings.find((f) => f.phase === v.phase && f.outcome === v.outcome && f.summary === v.summary);
  return top ? top.evidence.length : v.evidence.length;
}
