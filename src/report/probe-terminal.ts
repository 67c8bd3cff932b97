import type { ChalkInstance } from 'chalk';
import { decodeHistogram } from '../core/histogram.js';
import type { ProbeResult } from '../engine/summary.js';
import type { AttemptRecord } from '../core/types.js';
import { bar, fmtElapsed, fmtMs, fmtPct, table } from './format.js';

/** Outcome colour: green ok, yellow for engine/local outcomes, red for target failures. */
export function paintOutcome(c: ChalkInstance, outcome: string): string {
  if (outcome === 'ok') return c.green(outcome);
  if (outcome === 'dropped' || outcome === 'skipped' || outcome === 'error') return c.yellow(outcome);
  return c.red(outcome);
}

/** One line per attempt, like ping. `extra` is the probe's own detail (rcode, version, …). */
export function renderAttemptLine(c: ChalkInstance, r: AttemptRecord, extra = ''): string {
  const time = r.ms !== null ? `${fmtMs(r.ms)} ms` : r.durationMs ? `after ${fmtElapsed(r.durationMs)}` : '';
  const phase = r.outcome === 'ok' ? '' : c.dim(` [${r.phase}]`);
  const cause = r.outcome !== 'ok' && r.cause ? c.dim(` (${r.cause})`) : '';
  const tries = r.tries > 1 ? c.dim(` tries=${r.tries}`) : '';
  return `seq=${r.seq} ${r.target} ${paintOutcome(c, r.outcome)}${phase} ${time}${extra ? ' ' + extra : ''}${tries}${cause}`
    .replace(/ +/g, ' ')
    .trimEnd();
}

function latencyRow(label: string, s: ProbeResult['latencyMs']): (string | number)[] {
  if (!s) return [label, '-', '-', '-', '-', '-', '-', '-'];
  return [label, fmtMs(s.min), fmtMs(s.p50), fmtMs(s.p90), fmtMs(s.p99), fmtMs(s.p999), fmtMs(s.max), fmtMs(s.mean)];
}

export function renderOutcomes(c: ChalkInstance, outcomes: Record<string, number>, total: number): string {
  const entries = Object.entries(outcomes).sort((a, b) => b[1] - a[1]);
  return entries.map(([k, v]) => `${paintOutcome(c, k)} ${v} (${fmtPct(v, total)})`).join(', ');
}

export function renderHistogram(res: ProbeResult, indent = '  '): string {
  const enc = res.histograms?.latency;
  if (!enc || enc.count < 10) return '';
  const bins = decodeHistogram(enc).bins(8);
  const max = Math.max(...bins.map((b) => b.count));
  return table(
    bins.map((b) => [`${fmtMs(b.fromMs)}-${fmtMs(b.toMs)} ms`, bar(b.count, max, 32), b.count]),
    { indent },
  );
}

export interface SummaryParts {
  /** The probe's own lines after the latency table (negotiated TLS, rcodes, SYN retransmits…). */
  extra?: (res: ProbeResult) => string[];
  /** Label for the probe's own phase in the latency table. */
  phaseLabel: string;
  /** Other timing fields to show as rows: [field, label]. */
  timingRows?: [string, string][];
}

/** The `---` summary block, per target when there are several. */
export function renderProbeSummary(c: ChalkInstance, res: ProbeResult, parts: SummaryParts, o: { quiet?: boolean } = {}): string {
  const out: string[] = [];
  const groups = (res.byTarget ?? res.byServer) as Record<string, ProbeResult> | undefined;
  // -q over several targets: the header, the per-target table and the totals, nothing per target.
  const totalsOnly = Boolean(o.quiet) && groups !== undefined && Object.keys(groups).length > 1;
  const one = (r: ProbeResult, title: string) => {
    out.push(c.bold(`--- ${title} ---`));
    const ok = r.succeeded === r.attempts;
    const rate = `${r.succeeded}/${r.attempts} ok (${fmtPct(r.succeeded, r.attempts)})`;
    out.push(`${ok ? c.green(rate) : r.succeeded === 0 ? c.red(rate) : c.yellow(rate)}, elapsed ${fmtElapsed(r.elapsedMs)}`);
    out.push(`outcomes: ${renderOutcomes(c, r.outcomes, r.attempts)}`);
    if (r.firstTryOutcomes) out.push(`first try: ${renderOutcomes(c, r.firstTryOutcomes, r.attempts)}`);
    const rows: (string | number)[][] = [['ms', 'min', 'p50', 'p90', 'p99', 'p99.9', 'max', 'mean']];
    for (const [field, label] of parts.timingRows ?? []) {
      if (r[field]) rows.push(latencyRow(label, r[field] as ProbeResult['latencyMs']));
    }
    rows.push(latencyRow(parts.phaseLabel, r.latencyMs));
    if (r.serviceMs) rows.push(latencyRow(`${parts.phaseLabel} (service)`, r.serviceMs));
    out.push(table(rows, { header: true, indent: '  ' }));
    if (totalsOnly) return;
    for (const line of parts.extra?.(r) ?? []) out.push(line);
    if (r.errors) {
      for (const [cause, n] of Object.entries(r.errors)) out.push(c.yellow(`error: ${cause} (${n})`));
    }
  };
  if (groups && Object.keys(groups).length > 1) {
    out.push(c.bold(res.byServer ? '--- per server ---' : '--- per target ---'));
    const rows: (string | number)[][] = [[res.byServer ? 'server' : 'target', 'ok', 'failed', 'p50', 'p99', 'max', 'outcomes']];
    for (const [k, r] of Object.entries(groups)) {
      rows.push([
        k,
        `${fmtPct(r.succeeded, r.attempts)}`,
        r.failed,
        fmtMs(r.latencyMs?.p50),
        fmtMs(r.latencyMs?.p99),
        fmtMs(r.latencyMs?.max),
        Object.entries(r.outcomes)
          .map(([o, n]) => `${o}=${n}`)
          .join(' '),
      ]);
    }
    out.push(table(rows, { header: true, indent: '  ' }));
    if (!totalsOnly) for (const [k, r] of Object.entries(groups)) one(r, `${k} ${res.probe} statistics`);
    out.push('');
    one(res, `all targets`);
  } else {
    one(res, `${res.target} ${res.probe} statistics`);
  }
  const hist = totalsOnly ? '' : renderHistogram(res);
  if (hist) out.push(`latency histogram (${parts.phaseLabel}):`, hist);
  return out.join('\n') + '\n';
}
