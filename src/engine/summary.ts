import type { AttemptRecord, ProbeResult } from '../core/types.js';
import { createHistogram, decodeHistogram, roundStats, type Histogram } from '../core/histogram.js';

export type { ProbeResult };

export interface Aggregate {
  add(rec: AttemptRecord): void;
  result(): ProbeResult;
  /** Live figures for a progress line. */
  snapshot(): { attempts: number; succeeded: number; p50: number | null; p99: number | null };
}

interface Acc {
  attempts: number;
  succeeded: number;
  outcomes: Record<string, number>;
  firstTry: Record<string, number>;
  retried: boolean;
  errors: Record<string, number>;
  localErrors: number;
  latency: Histogram;
  service: Histogram;
  timings: Map<string, Histogram>;
  counters: Record<string, number>;
  tallies: Record<string, Record<string, number>>;
  factsOk: Record<string, unknown> | undefined;
  factsAny: Record<string, unknown> | undefined;
  firstStart: number;
  lastEnd: number;
}

function newAcc(): Acc {
  return {
    attempts: 0,
    succeeded: 0,
    outcomes: {},
    firstTry: {},
    retried: false,
    errors: {},
    localErrors: 0,
    latency: createHistogram(),
    service: createHistogram(),
    timings: new Map(),
    counters: {},
    tallies: {},
    factsOk: undefined,
    factsAny: undefined,
    firstStart: Infinity,
    lastEnd: -Infinity,
  };
}

// Runs once per attempt (tens of thousands a second): for-in loops and
// in-place updates, no Object.entries or spreads.
function addTo(acc: Acc, r: AttemptRecord, openLoop: boolean): void {
  acc.attempts++;
  acc.outcomes[r.outcome] = (acc.outcomes[r.outcome] ?? 0) + 1;
  acc.firstTry[r.firstOutcome] = (acc.firstTry[r.firstOutcome] ?? 0) + 1;
  if (r.tries > 1) acc.retried = true;
  if (r.outcome === 'ok') {
    acc.succeeded++;
    if (r.latencyMs !== null) acc.latency.record(r.latencyMs);
    if (openLoop && r.ms !== null) acc.service.record(r.ms);
  }
  if (r.outcome === 'error' || r.local) {
    const cause = r.cause ?? 'unknown cause';
    acc.errors[cause] = (acc.errors[cause] ?? 0) + 1;
  }
  if (r.local) acc.localErrors++;
  const timings = r.timings;
  if (timings) {
    for (const k in timings) {
      let h = acc.timings.get(k);
      if (!h) acc.timings.set(k, (h = createHistogram()));
      h.record(timings[k]!);
    }
  }
  const counters = r.counters;
  if (counters) for (const k in counters) acc.counters[k] = (acc.counters[k] ?? 0) + counters[k]!;
  const tallies = r.tallies;
  if (tallies) {
    for (const k in tallies) {
      const t = (acc.tallies[k] ??= {});
      const v = tallies[k]!;
      t[v] = (t[v] ?? 0) + 1;
    }
  }
  const facts = r.facts;
  if (facts) {
    // The latest value of each fact wins, for any attempt and for successful ones.
    const any = (acc.factsAny ??= {});
    for (const k in facts) any[k] = facts[k];
    if (r.outcome === 'ok') {
      const ok = (acc.factsOk ??= {});
      for (const k in facts) ok[k] = facts[k];
    }
  }
  if (r.actualAt < acc.firstStart) acc.firstStart = r.actualAt;
  const end = r.actualAt + r.durationMs;
  if (end > acc.lastEnd) acc.lastEnd = end;
}

function toResult(acc: Acc, probe: string, target: string, openLoop: boolean): ProbeResult {
  const res: ProbeResult = {
    probe,
    target,
    attempts: acc.attempts,
    succeeded: acc.succeeded,
    failed: acc.attempts - acc.succeeded,
    elapsedMs: acc.attempts ? Math.round((acc.lastEnd - acc.firstStart) * 1000) / 1000 : 0,
    latencyMs: roundStats(acc.latency.stats()),
    outcomes: { ...acc.outcomes },
  };
  if (openLoop) res.serviceMs = roundStats(acc.service.stats());
  if (acc.retried) res.firstTryOutcomes = { ...acc.firstTry };
  if (Object.keys(acc.errors).length) res.errors = { ...acc.errors };
  if (acc.localErrors) res.localErrors = acc.localErrors;
  for (const [k, h] of acc.timings) res[k] = roundStats(h.stats());
  Object.assign(res, acc.counters);
  for (const [k, t] of Object.entries(acc.tallies)) res[k] = { ...t };
  const facts = acc.factsOk ?? acc.factsAny;
  if (facts) for (const [k, v] of Object.entries(facts)) if (!(k in res)) res[k] = v;
  res.histograms = { latency: acc.latency.encode() };
  if (openLoop) res.histograms.service = acc.service.encode();
  for (const [k, h] of acc.timings) res.histograms[k] = h.encode();
  return res;
}

/**
 * Folds attempt records into the contract's result, overall and per target,
 * as they arrive: memory grows with the number of targets, not attempts.
 */
export function createAggregate(opts: {
  probe: string;
  /** Label of the whole run: the target as written, or all targets joined. */
  target: string;
  /** Targets in the order the user wrote them; a breakdown is added when there are several. */
  keys: string[];
  /** Name of the breakdown field: byTarget (default) or byServer. */
  breakdown?: 'byTarget' | 'byServer';
  openLoop?: boolean;
  /** Counter fields every result carries even when zero, e.g. synRetransmitSuspected. */
  zeroCounters?: string[];
}): Aggregate {
  const total = newAcc();
  const per = new Map(opts.keys.map((k) => [k, newAcc()] as const));
  const openLoop = opts.openLoop ?? false;
  const finish = (acc: Acc, target: string) => {
    const r = toResult(acc, opts.probe, target, openLoop);
    for (const c of opts.zeroCounters ?? []) r[c] ??= 0;
    return r;
  };
  return {
    add(rec) {
      addTo(total, rec, openLoop);
      let acc = per.get(rec.target);
      if (!acc) per.set(rec.target, (acc = newAcc()));
      addTo(acc, rec, openLoop);
    },
    result() {
      const res = finish(total, opts.target);
      // The breakdown is there for one target too: the JSON's shape does not depend on how many there are.
      const by = Object.fromEntries([...per].map(([k, acc]) => [k, finish(acc, k)]));
      res[opts.breakdown ?? 'byTarget'] = by;
      // A fact of the handshake (negotiated, certificate…) is the whole run's only when every
      // target that has it agrees; else the top level would show whichever target came last.
      const differ: string[] = [];
      for (const k of Object.keys(total.factsOk ?? total.factsAny ?? {})) {
        const seen = new Set(Object.values(by).flatMap((r) => (r[k] === undefined ? [] : [JSON.stringify(r[k])])));
        if (seen.size > 1) {
          delete res[k];
          differ.push(k);
        }
      }
      if (differ.length) res.differByTarget = differ;
      return res;
    },
    snapshot() {
      return {
        attempts: total.attempts,
        succeeded: total.succeeded,
        p50: total.latency.percentile(50),
        p99: total.latency.percentile(99),
      };
    },
  };
}

/** Rebuilds latency stats of a result from its encoded histogram (for merging). */
export function histogramOf(res: ProbeResult, name = 'latency'): Histogram {
  const e = res.histograms?.[name];
  return e ? decodeHistogram(e) : createHistogram();
}
