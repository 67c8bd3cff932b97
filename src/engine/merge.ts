import { ConndxError } from '../errors.js';
import type { Meta } from '../core/meta.js';
import { decodeHistogram, roundStats, type EncodedHistogram } from '../core/histogram.js';
import type { ProbeResult } from './summary.js';

const COUNT_MAPS = ['outcomes', 'firstTryOutcomes', 'errors', 'rcodes'] as const;
const BREAKDOWNS = ['byTarget', 'byServer'] as const;
/** Fields that are per-run facts, not sums: the first input that has them wins. */
const NOT_SUMMED = new Set([
  'probe',
  'target',
  'attempts',
  'succeeded',
  'failed',
  'sources',
  'meta',
  'histograms',
  'latencyMs',
  'serviceMs',
  'series',
  'timing',
  'elapsedMs',
  // one name lookup per run, and a run's own limits
  'lookupMs',
  'concurrencyCapped',
  'shard',
  ...COUNT_MAPS,
  ...BREAKDOWNS,
]);

/** A map of counts (a tally: rcodes, peerAfterConnect, resumption, failures by phase …): summed key by key. */
function isCountMap(v: unknown): v is Record<string, number> {
  if (!v || typeof v !== 'object' || Array.isArray(v)) return false;
  const vals = Object.values(v);
  return vals.length > 0 && vals.every((x) => typeof x === 'number');
}

/** Sets an own property, whatever the key: "__proto__" or "constructor" from a JSON input is data, not the prototype. */
function setOwn(into: Record<string, unknown>, k: string, v: unknown): void {
  Object.defineProperty(into, k, { value: v, enumerable: true, writable: true, configurable: true });
}

function ownNumber(o: Record<string, number>, k: string): number {
  return Object.hasOwn(o, k) && typeof o[k] === 'number' ? o[k]! : 0;
}

function addMaps(into: Record<string, number>, from: Record<string, number> | undefined) {
  for (const [k, v] of Object.entries(from ?? {})) {
    if (typeof v !== 'number' || !Number.isFinite(v)) continue;
    setOwn(into, k, ownNumber(into, k) + v);
  }
}

function decodeNamed(e: EncodedHistogram, name: string, r: ProbeResult): ReturnType<typeof decodeHistogram> {
  const bad = () =>
    new ConndxError(
      'CONNDX_BAD_ARGUMENT',
      `the "${name}" histogram of ${r.probe} result ${typeof r.target === 'string' ? `for ${r.target} ` : ''}is corrupt: it cannot be decoded`,
    );
  if (
    !e ||
    typeof e !== 'object' ||
    typeof e.hdr !== 'string' ||
    ![e.count, e.sumNs, e.minNs, e.maxNs].every((x) => typeof x === 'number' && Number.isFinite(x) && x >= 0)
  )
    throw bad();
  try {
    // An empty histogram is not decoded by decodeHistogram; a non-empty encoding must still be valid.
    if (e.count === 0 && e.hdr !== '') decodeHistogram({ ...e, count: 1 });
    const h = decodeHistogram(e);
    h.stats();
    return h;
  } catch {
    throw bad();
  }
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
    if (!r.histograms || typeof r.histograms !== 'object' || !r.histograms.latency) {
      throw new ConndxError(
        'CONNDX_BAD_ARGUMENT',
        `a ${r.probe} result${typeof r.target === 'string' && r.target ? ` for ${r.target}` : ''} carries no histograms (made by an older conndx, or not with --json?)`,
      );
    }
  }
  const out: ProbeResult = {
    probe,
    target: [...new Set(results.map((r) => r.target))].join(' '),
    attempts: 0,
    succeeded: 0,
    failed: 0,
    elapsedMs: Math.max(...results.map((r) => r.elapsedMs)),
    latencyMs: null,
    outcomes: {},
  };
  // Histograms: every name any input carries.
  const names = new Set(
    results.flatMap((r) => Object.keys(r.histograms ?? {})).filter((n) => n !== '__proto__' && n !== 'constructor' && n !== 'prototype'),
  );
  const merged: Record<string, EncodedHistogram> = {};
  for (const name of names) {
    const h = decodeHistogram({ hdr: '', count: 0, sumNs: 0, minNs: 0, maxNs: 0 });
    for (const r of results) {
      const e = Object.hasOwn(r.histograms ?? {}, name) ? r.histograms![name] : undefined;
      if (e) {
        try {
          h.merge(decodeNamed(e, name, r));
        } catch (err) {
          if (err instanceof ConndxError) throw err;
          throw new ConndxError(
            'CONNDX_BAD_ARGUMENT',
            `the "${name}" histogram of a ${r.probe} result is corrupt: ${(err as Error).message}`,
          );
        }
      }
    }
    merged[name] = h.encode();
    const stats = roundStats(h.stats());
    if (name === 'latency') out.latencyMs = stats;
    else if (name === 'service') out.serviceMs = stats;
    else out[name] = stats;
  }
  for (const r of results) {
    out.attempts += Number(r.attempts) || 0;
    out.succeeded += Number(r.succeeded) || 0;
    out.failed += Number(r.failed) || 0;
    for (const m of COUNT_MAPS) {
      if (r[m]) addMaps((out[m] ??= {}) as Record<string, number>, r[m] as Record<string, number>);
    }
    for (const [k, v] of Object.entries(r)) {
      if (NOT_SUMMED.has(k) || names.has(k)) continue;
      const has = Object.hasOwn(out, k);
      if (typeof v === 'number') setOwn(out, k, (has && typeof out[k] === 'number' ? (out[k] as number) : 0) + v);
      else if (isCountMap(v) && (!has || isCountMap(out[k]))) {
        if (!has) setOwn(out, k, {});
        addMaps(out[k] as Record<string, number>, v);
      } else if (!has) setOwn(out, k, v);
    }
  }
  for (const b of BREAKDOWNS) {
    // A run of one target carries no byTarget: its whole result is that target's
    // row (a shard that got one target of many), or the merged table would drop it
    // while the totals count it. Single-server dns results do not name the server,
    // so byServer cannot be made up this way. Keys are data: own properties only.
    const rows = (r: ProbeResult) =>
      (r[b] as Record<string, ProbeResult> | undefined) ?? (b === 'byTarget' && !r.byServer ? { [r.target]: r } : undefined);
    if (!results.some((r) => r[b])) continue;
    const keys = new Set(results.flatMap((r) => Object.keys(rows(r) ?? {})));
    out[b] = Object.fromEntries(
      [...keys].map((k) => [
        k,
        mergeResults(
          results
            .map((r) => {
              const m = rows(r);
              return m && Object.hasOwn(m, k) ? m[k] : undefined;
            })
            .filter((x): x is ProbeResult => !!x && typeof x === 'object'),
        ),
      ]),
    );
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
