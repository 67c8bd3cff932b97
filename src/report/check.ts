import type { CheckSpec, ConfigIssue, Thresholds } from '../checks/config.js';
import type { CheckRun } from '../checks/run.js';
import type { Measure, State } from '../checks/verdict.js';
import type { Meta } from '../core/meta.js';

/** `conndx check --json`: the whole run. */
export interface CheckReport {
  status: State;
  exitCode: number;
  /** The Nagios status line, perfdata included. */
  summary: string;
  counts: Record<Lowercase<State>, number>;
  checks: {
    name: string;
    probe: string;
    target: string;
    state: State;
    reasons: string[];
    durationMs: number;
    measures: Measure[];
    unresolved?: CheckRun['unresolved'];
    error?: string;
    result: CheckRun['result'];
  }[];
  meta: Meta;
}

const fmtMs = (x: number) => `${Math.round(x * 1000) / 1000}`;

/** Nagios perfdata label: quoted, with quotes doubled and '=' kept out (plugin guidelines §2.6). */
function perfLabel(s: string): string {
  return `'${s.replace(/'/g, "''").replace(/=/g, '_')}'`;
}

/**
 * A Nagios range for a limit: "x" alerts above x, "x:" alerts below x
 * (Nagios plugin development guidelines, threshold and ranges).
 */
function range(limit: number | undefined, direction: 'above' | 'below', scale = 1): string {
  if (limit === undefined) return '';
  const v = fmtMs(limit * scale);
  return direction === 'above' ? v : `${v}:`;
}

function perfOf(name: string, m: Measure): string | null {
  if (typeof m.value !== 'number') return null;
  const label = `${name}${m.scope ? `@${m.scope}` : ''}`;
  const w = typeof m.warn === 'number' ? m.warn : undefined;
  const c = typeof m.crit === 'number' ? m.crit : undefined;
  switch (m.key) {
    case 'successRate':
      return `${perfLabel(`${label}_success`)}=${fmtMs(m.value)};${range(w, 'below')};${range(c, 'below')};0;1`;
    case 'p50':
    case 'p90':
    case 'p99':
      return `${perfLabel(`${label}_${m.key}`)}=${fmtMs(m.value)}ms;${range(w, 'above')};${range(c, 'above')};0;`;
    case 'certDaysLeft':
      return `${perfLabel(`${label}_cert_days`)}=${m.value};${range(w, 'below')};${range(c, 'below')};;`;
    default:
      return null;
  }
}

export function renderPerfdata(runs: CheckRun[]): string {
  const parts: string[] = [];
  for (const r of runs) {
    for (const m of r.verdict.measures) {
      const p = perfOf(r.name, m);
      if (p) parts.push(p);
    }
    parts.push(`${perfLabel(`${r.name}_duration`)}=${fmtMs(r.durationMs)}ms;;;0;`);
  }
  return parts.join(' ');
}

export function countStates(runs: CheckRun[]): Record<Lowercase<State>, number> {
  const c = { ok: 0, warning: 0, critical: 0, unknown: 0 };
  for (const r of runs) c[r.verdict.state.toLowerCase() as Lowercase<State>]++;
  return c;
}

/** One line per check: "api-tls CRITICAL: p99 412ms > 300ms; success 3/3; …". */
export function renderCheckLine(r: CheckRun): string {
  const v = r.verdict;
  const words =
    v.state === 'OK' || v.measures.length === 0
      ? [...v.reasons, ...v.measures.map((m) => m.text)]
      : [...v.reasons, ...v.measures.filter((m) => m.state === 'OK').map((m) => m.text)];
  return `${r.name} ${v.state}: ${r.probe} ${r.target}: ${words.join('; ')}`;
}

/**
 * The plugin output: one status line with perfdata after `|`, then one line
 * per check (Nagios plugin API: the first line is the status, the rest long output).
 */
export function renderCheckOutput(runs: CheckRun[], status: State): { summary: string; text: string } {
  const c = countStates(runs);
  const notOk = runs.filter((r) => r.verdict.state !== 'OK');
  const head = `CONNDX ${status} - ${c.critical} critical, ${c.warning} warning, ${c.unknown} unknown, ${c.ok} ok`;
  const detail = notOk.length ? `: ${notOk.map((r) => `${r.name} ${r.verdict.state} (${r.verdict.reasons.join('; ')})`).join(', ')}` : '';
  const summary = `${head}${detail} | ${renderPerfdata(runs)}`;
  return { summary, text: [summary, ...runs.map(renderCheckLine)].join('\n') + '\n' };
}

/** Bad config: the UNKNOWN status line and every problem, one per line. */
export function renderConfigIssues(issues: ConfigIssue[], format: (i: ConfigIssue) => string): string {
  const first = issues[0] ? format(issues[0]) : 'bad config';
  const more = issues.length > 1 ? ` (and ${issues.length - 1} more)` : '';
  const shown = issues.slice(1, 20).map(format);
  if (issues.length > 20) shown.push(`… and ${issues.length - 20} more`);
  return [`CONNDX UNKNOWN - bad config: ${first}${more}`, ...shown].join('\n') + '\n';
}

const dur = (msv: number) => (msv % 60_000 === 0 ? `${msv / 60_000}m` : msv % 1000 === 0 ? `${msv / 1000}s` : `${msv}ms`);

function limitsText(t: Thresholds): string {
  const parts: string[] = [];
  if (t.successRate !== undefined) parts.push(`success < ${Math.round(t.successRate * 10000) / 100}%`);
  for (const p of ['p50', 'p90', 'p99'] as const) if (t[p] !== undefined) parts.push(`${p} > ${dur(t[p]!)}`);
  if (t.minTlsVersion) parts.push(`version < ${t.minTlsVersion}`);
  if (t.certDaysLeft !== undefined) parts.push(`certificate < ${t.certDaysLeft} days left`);
  if (t.rcode) parts.push(`rcode not ${t.rcode.join('/')}`);
  return parts.join(', ');
}

/**
 * `--dry-run`: what each check would do, and what would make it WARNING or CRITICAL.
 * `kindWords` names a check's own settings (its kind's planWords, src/probes/kinds/).
 */
export function renderPlan(file: string, specs: CheckSpec[], kindWords: (s: CheckSpec) => string[]): string {
  const lines = [`CONNDX CHECK PLAN ${file}: ${specs.length} check${specs.length === 1 ? '' : 's'}`];
  for (const s of specs) {
    const opts: string[] = [...kindWords(s)];
    opts.push(`count ${s.count}`, `concurrency ${s.concurrency}`, `timeout ${dur(s.timeoutMs)}`, `interval ${dur(s.intervalMs)}`);
    if (s.retries) opts.push(`retries ${s.retries}`);
    if (s.family) opts.push(`IPv${s.family}`);
    lines.push(`${s.name} (line ${s.line}): ${s.probe} ${s.target}, ${opts.join(', ')}`);
    const crit = limitsText(s.expect);
    const warn = limitsText(s.warn);
    // The defaults of the verdict: without expect.successRate, all failing is CRITICAL; without any, some failing is WARNING.
    const noRate = s.expect.successRate === undefined && s.warn.successRate === undefined;
    lines.push(`  CRITICAL if ${[crit, s.expect.successRate === undefined ? 'every attempt fails' : ''].filter(Boolean).join(', ')}`);
    if (warn || noRate) lines.push(`  WARNING if ${[warn, noRate ? 'any attempt fails' : ''].filter(Boolean).join(', ')}`);
  }
  return lines.join('\n') + '\n';
}
