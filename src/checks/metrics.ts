import { PHASES } from '../core/types.js';
import { Counter, Gauge, Registry } from 'prom-client';
import type { ProbeResult } from '../engine/summary.js';
import { PROBERS } from '../probes/registry.js';
import type { CheckSpec, ProbeKind } from './config.js';
import type { ProbeKind as Kind } from '../probes/kinds/kind.js';
import type { CheckRun } from './run.js';
import { STATE_CODE } from './verdict.js';

/**
 * Prometheus series of checks. Names follow blackbox_exporter where it has
 * the same idea (probe_success, probe_duration_seconds,
 * probe_dns_lookup_time_seconds, probe_tls_version_info,
 * probe_ssl_earliest_cert_expiry); the rest are conndx_*, in base units.
 * Values come from plain state at scrape time (prom-client `collect`), so a
 * reload that drops a check drops its series too.
 */

/** Every phase a check can fail in (core's phases: proxy, tunnel and starttls come before tls when a check asks for them). */
export const PHASE_LABELS = PHASES;
/** Percentiles of the contract's latency stats; not `quantile`, which Prometheus reserves for summaries. */
const PERCENTILES = [
  ['50', 'p50'],
  ['90', 'p90'],
  ['99', 'p99'],
] as const;

/** What the exporter keeps per check between scrapes. */
export interface CheckState {
  spec: CheckSpec;
  last?: CheckRun;
  runs: number;
  /** Runs not started because the previous one was still going. */
  skipped: number;
  /** Cumulative attempts by target, phase and outcome: JSON label key → count. */
  attempts: Map<string, number>;
}

export function newCheckState(spec: CheckSpec): CheckState {
  const s: CheckState = { spec, runs: 0, skipped: 0, attempts: new Map() };
  // Every outcome of the probe exists from the start, at 0 (as blackbox_exporter creates its label values up front).
  for (const target of targetsOf(spec)) {
    for (const outcome of outcomesOf(spec.probe)) s.attempts.set(attemptKey(target, outcomePhase(spec.probe, outcome), outcome), 0);
  }
  return s;
}

const kindOf = (spec: CheckSpec): Kind => (PROBERS as Record<string, Kind>)[spec.probe]!;

function targetsOf(spec: CheckSpec): string[] {
  return spec.probe === 'dns' ? spec.dns!.servers : [spec.target];
}

function outcomesOf(kind: ProbeKind): string[] {
  return [...(PROBERS[kind]?.outcomes ?? [])];
}

/** The phase an outcome belongs to (the contract's phases): where the attempt failed, or the probe's own phase when ok. */
export function outcomePhase(kind: ProbeKind, outcome: string): (typeof PHASE_LABELS)[number] {
  return PROBERS[kind].phaseOfOutcome(outcome);
}

const attemptKey = (target: string, phase: string, outcome: string) => JSON.stringify([target, phase, outcome]);

/** The `transport` label of a dns check's series (udp, tcp, dot, doh); none for tcp and tls checks. */
function transportLabel(spec: CheckSpec): Record<string, string> {
  if (spec.probe !== 'dns') return {};
  return { transport: spec.dns!.extras?.transport ?? (spec.dns!.tcp ? 'tcp' : 'udp') };
}

/** Folds a finished run into the state: the latest run, and the cumulative counters. */
export function recordRun(state: CheckState, run: CheckRun): void {
  state.last = run;
  state.runs++;
  for (const [target, res] of perTarget(run, state.spec)) {
    for (const [outcome, n] of Object.entries(res.outcomes)) {
      const k = attemptKey(target, outcomePhase(state.spec.probe, outcome), outcome);
      state.attempts.set(k, (state.attempts.get(k) ?? 0) + n);
    }
  }
  // A name that does not resolve is one failed lookup, in phase dns, under the DNS outcome.
  for (const u of run.unresolved ?? []) {
    const k = attemptKey(u.key, 'dns', u.outcome);
    state.attempts.set(k, (state.attempts.get(k) ?? 0) + 1);
  }
}

function perTarget(run: CheckRun, spec: CheckSpec): [string, ProbeResult][] {
  const r = run.result;
  if (!r) return [];
  const by = (r.byServer ?? r.byTarget) as Record<string, ProbeResult> | undefined;
  if (by && Object.keys(by).length > 1) return Object.entries(by);
  return [[spec.probe === 'dns' ? (spec.dns!.servers[0] ?? run.target) : run.target, r]];
}

/** The phase where the latest run failed most (null when nothing failed). */
export function failurePhase(run: CheckRun): string | null {
  if (run.unresolved?.length) return 'dns';
  const r = run.result;
  if (!r || r.failed === 0) return null;
  const byPhase = new Map<string, number>();
  for (const [outcome, n] of Object.entries(r.outcomes)) {
    if (outcome === 'ok') continue;
    const p = outcomePhase(run.probe, outcome);
    byPhase.set(p, (byPhase.get(p) ?? 0) + n);
  }
  let best: string | null = null;
  let most = 0;
  for (const [p, n] of byPhase)
    if (n > most) {
      best = p;
      most = n;
    }
  return best;
}

/** ms → seconds, to the microsecond (no float noise in the exposition). */
const sec = (msv: number) => Math.round(msv * 1000) / 1_000_000;

/**
 * Registers the check series on `registry`, read from `states()` at each
 * scrape. With `checkLabel` false (a /probe answer) the series carry no
 * `check` label: the scraper knows what it asked for.
 */
export function registerCheckMetrics(registry: Registry, states: () => Iterable<CheckState>, opts: { checkLabel: boolean }): void {
  const base = opts.checkLabel ? ['check'] : [];
  const lb = (s: CheckState, extra: Record<string, string> = {}) => (opts.checkLabel ? { check: s.spec.name, ...extra } : extra);
  const withLast = function* () {
    for (const s of states()) if (s.last) yield s as CheckState & { last: CheckRun };
  };
  const gauge = (name: string, help: string, labels: string[], fill: (g: Gauge<string>) => void) =>
    new Gauge({
      name,
      help,
      labelNames: [...base, ...labels],
      registers: [registry],
      collect() {
        this.reset();
        fill(this);
      },
    });

  gauge('probe_success', 'Whether the check passed its CRITICAL thresholds in its latest run (1) or not (0)', [], (g) => {
    for (const s of withLast()) g.set(lb(s), s.last.verdict.state === 'OK' || s.last.verdict.state === 'WARNING' ? 1 : 0);
  });
  gauge('probe_duration_seconds', 'How long the latest run of the check took, name resolution included', [], (g) => {
    for (const s of withLast()) g.set(lb(s), sec(s.last.durationMs));
  });
  gauge('conndx_check_state', 'Nagios state of the latest run: 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN', [], (g) => {
    for (const s of withLast()) g.set(lb(s), STATE_CODE[s.last.verdict.state]);
  });
  gauge(
    'conndx_check_failure_phase',
    'The phase where most attempts of the latest run failed (1), per phase; all 0 when none failed',
    ['phase'],
    (g) => {
      for (const s of withLast()) {
        const p = failurePhase(s.last);
        for (const ph of PHASE_LABELS) g.set(lb(s, { phase: ph }), ph === p ? 1 : 0);
      }
    },
  );
  gauge('conndx_check_last_run_timestamp_seconds', 'When the latest run of the check started (Unix time)', [], (g) => {
    for (const s of withLast()) g.set(lb(s), Date.parse(s.last.startedAt) / 1000);
  });
  gauge('probe_dns_lookup_time_seconds', 'Time to resolve the target name before connecting (0 for an address)', [], (g) => {
    for (const s of withLast()) {
      if (s.spec.probe === 'dns') continue;
      const u = s.last.unresolved?.[0];
      if (u) {
        g.set(lb(s), sec(u.lookupMs));
        continue;
      }
      if (!s.last.result) continue;
      g.set(lb(s), sec(typeof s.last.result.lookupMs === 'number' ? s.last.result.lookupMs : 0));
    }
  });
  gauge(
    'conndx_probe_success_ratio',
    "Share of the latest run's attempts that succeeded, per target (per server for dns)",
    ['target'],
    (g) => {
      for (const s of withLast()) {
        for (const [t, r] of perTarget(s.last, s.spec)) if (r.attempts) g.set(lb(s, { target: t }), r.succeeded / r.attempts);
      }
    },
  );
  gauge('conndx_probe_last_run_attempts', 'Attempts made by the latest run, per target', ['target'], (g) => {
    for (const s of withLast()) for (const [t, r] of perTarget(s.last, s.spec)) g.set(lb(s, { target: t }), r.attempts);
  });
  gauge(
    'conndx_probe_phase_duration_seconds',
    'Latency percentiles of the latest run per phase, over its successful attempts: dns query, tcp connect (SYN to established), tls handshake (ClientHello to done)',
    ['target', 'phase', 'percentile', 'transport'],
    (g) => {
      for (const s of withLast()) {
        for (const [t, r] of perTarget(s.last, s.spec)) {
          const kind = kindOf(s.spec);
          // The kind's own phase (app for http: the first byte), then the phases its results time apart.
          const stats: [string, ProbeResult['latencyMs']][] = [[kind.phase, r.latencyMs]];
          for (const [phase, field] of kind.timingPhases ?? []) stats.push([phase, (r[field] ?? null) as ProbeResult['latencyMs']]);
          for (const [phase, st] of stats) {
            if (!st) continue;
            for (const [q, k] of PERCENTILES) g.set(lb(s, { target: t, phase, percentile: q, ...transportLabel(s.spec) }), sec(st[k]));
          }
        }
      }
    },
  );
  gauge(
    'conndx_check_loop_lag_seconds',
    'How late timers ran in conndx during the latest run (max): latencies of that run may be inflated by about this much',
    [],
    (g) => {
      for (const s of withLast()) {
        if (!s.last.result) continue;
        // No sample means the run was shorter than one tick of the lag monitor.
        const lag = (s.last.result.timing as { loopLagMs?: { max: number } | null } | undefined)?.loopLagMs;
        g.set(lb(s), lag ? sec(lag.max) : 0);
      }
    },
  );
  gauge(
    'conndx_dns_nsid_replies',
    'Replies of the latest run per server identifier (NSID, RFC 5001): which anycast instance answered (dns checks with nsid: true)',
    ['target', 'transport', 'nsid'],
    (g) => {
      for (const s of withLast()) {
        if (s.spec.probe !== 'dns') continue;
        for (const [t, r] of perTarget(s.last, s.spec)) {
          for (const [nsid, n] of Object.entries((r.nsid ?? {}) as Record<string, number>))
            g.set(lb(s, { target: t, nsid, ...transportLabel(s.spec) }), n);
        }
      }
    },
  );
  // Gauges a kind adds for its checks (http: probe_http_status_code, probe_http_version).
  // A /probe answer has them only when it is of that kind (a gauge nothing set is exposed as 0).
  for (const k of Object.values(PROBERS) as Kind[]) {
    if (!opts.checkLabel && ![...states()].some((s) => s.spec.probe === k.name)) continue;
    for (const kg of k.check?.gauges ?? []) {
      gauge(kg.name, kg.help, [], (g) => {
        for (const s of withLast()) {
          if (s.spec.probe !== k.name || !s.last.result) continue;
          const v = kg.value(s.last.result);
          if (v !== undefined) g.set(lb(s), v);
        }
      });
    }
  }
  gauge('probe_tls_version_info', 'The TLS version the latest handshake negotiated', ['version'], (g) => {
    for (const s of withLast()) {
      const v =
        (s.last.result?.negotiated as { version?: string | null } | undefined)?.version ??
        (s.last.result?.tls as { version?: string | null } | undefined)?.version;
      if (v) g.set(lb(s, { version: v }), 1);
    }
  });
  // A gauge without labels is exposed as 0 when nothing set it: a tcp or dns
  // /probe answer would then say the certificate expired in 1970 and fire every
  // expiry alert. The series exists only where a TLS check can set it.
  const overTls = (s: CheckState) => {
    const own = kindOf(s.spec).check?.overTls;
    if (own) return own((s.spec as unknown as Record<string, unknown>)[s.spec.probe], s.spec.target);
    return ['dot', 'doh'].includes(transportLabel(s.spec).transport ?? '');
  };
  if (opts.checkLabel || [...states()].some(overTls)) {
    gauge('probe_ssl_earliest_cert_expiry', "When the server's leaf certificate expires (Unix time)", [], (g) => {
      for (const s of withLast()) {
        const na =
          (s.last.result?.certificate as { notAfter?: string } | undefined)?.notAfter ??
          (s.last.result?.tls as { certificate?: { notAfter?: string } } | undefined)?.certificate?.notAfter;
        if (na) g.set(lb(s), Date.parse(na) / 1000);
      }
    });
  }
  new Counter({
    name: 'conndx_probe_attempts_total',
    help: "Attempts by target, phase and outcome (contract outcome names; ok in the probe's own phase)",
    labelNames: [...base, 'target', 'phase', 'outcome', 'transport'],
    registers: [registry],
    collect() {
      this.reset();
      for (const s of states()) {
        for (const [k, n] of s.attempts) {
          const [target, phase, outcome] = JSON.parse(k) as [string, string, string];
          this.inc(lb(s, { target, phase, outcome, ...transportLabel(s.spec) }), n);
        }
      }
    },
  });
  if (opts.checkLabel) {
    new Counter({
      name: 'conndx_check_runs_total',
      help: 'Runs of the check',
      labelNames: ['check'],
      registers: [registry],
      collect() {
        this.reset();
        for (const s of states()) this.inc({ check: s.spec.name }, s.runs);
      },
    });
    new Counter({
      name: 'conndx_check_skipped_total',
      help: 'Runs not started because the previous run of the check was still going',
      labelNames: ['check'],
      registers: [registry],
      collect() {
        this.reset();
        for (const s of states()) this.inc({ check: s.spec.name }, s.skipped);
      },
    });
  }
}

/** The exposition text of one set of runs (a /probe answer, or a textfile for node_exporter). */
export async function exposition(
  runs: { spec: CheckSpec; run: CheckRun }[],
  opts: { checkLabel: boolean },
): Promise<{ text: string; contentType: string }> {
  const registry = new Registry();
  const states = runs.map(({ spec, run }) => {
    const s = newCheckState(spec);
    recordRun(s, run);
    return s;
  });
  registerCheckMetrics(registry, () => states, opts);
  return { text: await registry.metrics(), contentType: registry.contentType };
}
