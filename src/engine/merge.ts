import { ConndxError } from '../errors.js';
import type { Meta } from '../core/meta.js';
import { decodeHistogram, roundStats, type EncodedHistogram } from '../core/histogram.js';
import type { ProbeResult } from './summary.js';

const COUNT_MAPS = ['outcomes', 'firstTryOutcomes', 'errors', 'rcodes'] as const;
const BREAKDOWNS = ['byTarget', 'byServer'] as const;
/** Fields that are per-run facts, not sums: the first input that has them wins. */
const NOT_SUMMED = new Set([
  'probe', 'target', 'attempts', 'succeeded', 'failed', 'sources', 'meta', 'histograms', 'latencyMs', 'serviceMs', 'series', 'timing', 'elapsedMs',
  // one name lookup per run, and a run's own limits
  'lookupMs', 'concurrencyCapped', 'shard',
  ...COUNT_MAPS, ...BREAKDOWNS,
]);

/** A map of counts (a tally: rcodes, peerAfterConnect, resumption, failures by phase …): summed key by key. */
function isCountMap(v: unknown): v is Record<string, number> {
  if (!v || typeof v !== 'object' || Array.isArray(v)) return false;
  const vals = Object.values(v);
  return vals.length > 0 && vals.every((x) => typeof x === 'number');
}

function addMaps(into: Record<string, number>, from: Record<string, number> | undefined) {
  for (const [k, v] of Object.entries(from ?? {})) into[k] = (into[k] ?? 0) + v;
}

/**
 * Combines results of the same probe from several runs (machines, shards,
 * halves of a run) exactly: counts add up, and latency percentiles come from
 * the merged histograms, so they are what one run over all the attempts
 * would have reported. Results without encoded histograms cannot be merged.
 */
export function mergeResults(results: ProbeResult[]): ProbeResult {
  if (results.length === 0) throw new ConndxError('CONNDX_BAD_ARGUMENT', 'nothing to merge');
  const probe = results[0]!.probe;
  for (const r of results) {
    if (r.probe !== probe) throw new ConndxError('CONNDX_BAD_ARGUMENT', `cannot merge a ${r.probe} result with a ${probe} result`);
    if (!r.histograms?.latency) throw new ConndxError('CONNDX_BAD_ARGUMENT', `a ${r.probe} result for ${r.target} carries no histograms (made by an older conndx?)`);
  }
  const out: ProbeResult = {
    probe,
    target: [...new Set(results.map((r) => r.target))].join(' '),
    attempts: 0, succeeded: 0, failed: 0,
    elapsedMs: Math.max(...results.map((r) => r.elapsedMs)),
    latencyMs: null,
    outcomes: {},
  };
  // Histograms: every name any input carries.
  const names = new Set(results.flatMap((r) => Object.keys(r.histograms ?? {})));
  const merged: Record<string, EncodedHistogram> = {};
  for (const name of names) {
    const h = decodeHistogram({ hdr: '', count: 0, sumNs: 0, minNs: 0, maxNs: 0 });
    for (const r of results) {
      const e = r.histograms?.[name];
      if (e) h.merge(decodeHistogram(e));
    }
    merged[name] = h.encode();
    const stats = roundStats(h.stats());
    if (name === 'latency') out.latencyMs = stats;
    else if (name === 'service') out.serviceMs = stats;
    else out[name] = stats;
  }
  for (const r of results) {
    out.attempts += r.attempts;
    out.succeeded += r.succeeded;
    out.failed += r.failed;
    for (const m of COUNT_MAPS) {
      if (r[m]) addMaps((out[m] ??= {}) as Record<string, number>, r[m] as Record<string, number>);
    }
    for (const [k, v] of Object.entries(r)) {
      if (NOT_SUMMED.has(k) || names.has(k)) continue;
      if (typeof v === 'number') out[k] = ((out[k] as number | undefined) ?? 0) + v;
      else if (isCountMap(v) && (out[k] === undefined || isCountMap(out[k]))) addMaps((out[k] ??= {}) as Record<string, number>, v);
      else if (!(k in out)) out[k] = v;
    }
  }
  for (const b of BREAKDOWNS) {
    const keys = new Set(results.flatMap((r) => Object.keys((r[b] as Record<string, ProbeResult> | undefined) ?? {})));
    if (keys.size === 0) continue;
    out[b] = Object.fromEntries([...keys].map((k) => [k, mergeResults(results.map((r) => (r[b] as Record<string, ProbeResult> | undefined)?.[k]).filter((x): x is ProbeResult => !!x))]));
  }
  out.histograms = merged;
  const shards = results.map((r) => r.shard).filter((x): x is string => typeof x === 'string');
  if (shards.length) out.shards = shards;
  for (const k of ['lookupMs', 'concurrencyCapped'] as const) {
    if (names.has(k)) continue; // a timing summary, merged from its histogram above
    const first = results.find((r) => r[k] !== undefined);
    if (first) out[k] = first[k];
  }
  const metas = results.map((r) => r.meta).filter((m): m is Meta => !!m);
  if (metas.length) out.sources = metas;
  return out;
}
