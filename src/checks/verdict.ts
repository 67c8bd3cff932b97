import type { ProbeResult } from '../engine/summary.js';
import type { CheckSpec } from './config.js';
import { PROBERS } from '../probes/registry.js';
import type { ProbeKind } from '../probes/kinds/kind.js';

/** Nagios/Icinga plugin states, with their exit codes. */
export const STATES = ['OK', 'WARNING', 'CRITICAL', 'UNKNOWN'] as const;
export type State = (typeof STATES)[number];
export const STATE_CODE: Record<State, number> = { OK: 0, WARNING: 1, CRITICAL: 2, UNKNOWN: 3 };
/** Which state wins when several are combined: CRITICAL over UNKNOWN over WARNING over OK. */
const SEVERITY: Record<State, number> = { OK: 0, WARNING: 1, UNKNOWN: 2, CRITICAL: 3 };

export function worst(states: Iterable<State>): State {
  let w: State = 'OK';
  for (const s of states) if (SEVERITY[s] > SEVERITY[w]) w = s;
  return w;
}

export type MeasureKey = 'successRate' | 'p50' | 'p90' | 'p99' | 'minTlsVersion' | 'certDaysLeft' | 'rcode';

/** One judged value: what was measured, against which limits, with what result. */
export interface Measure {
  key: MeasureKey;
  /** DNS server (several servers are judged one by one), else absent. */
  scope?: string;
  value: number | string | null;
  /** The limits, as configured: a number (ms, days, fraction) or a name. */
  warn?: number | string | string[];
  crit?: number | string | string[];
  /** Value crossing a number limit: 'above' (latency) or 'below' (success, days). */
  direction?: 'above' | 'below';
  state: State;
  /** Short words for the status line, e.g. "p99 412ms > 300ms". */
  text: string;
}

export interface Verdict {
  state: State;
  /** The words of every measure that is not OK, or why the check could not be judged. */
  reasons: string[];
  measures: Measure[];
}

/** What a check run produced, as the verdict needs it. */
export interface RunFacts {
  result: ProbeResult | null;
  /** Targets (or DNS servers) whose name did not resolve. */
  unresolved?: { key: string; outcome: string; cause: string; lookupMs: number }[];
  /** The run could not be made (a fault of this machine or of conndx). */
  error?: string;
}

const ms = (x: number) => `${x < 10 ? Math.round(x * 100) / 100 : Math.round(x * 10) / 10}ms`;
const pct = (x: number) => `${Math.round(x * 10000) / 100}%`;

/** How many attempts count as a success: with `rcode`, replies with an accepted RCODE; else `ok` outcomes. */
export function successesOf(r: ProbeResult, accepted: string[] | undefined): number {
  if (!accepted) return r.succeeded;
  const tallies = (r.rcodes ?? {}) as Record<string, number>;
  let n = 0;
  for (const rc of accepted) {
    // NOERROR only counts when the attempt succeeded (a truncated reply carries NOERROR too).
    n += rc === 'NOERROR' ? (r.outcomes.ok ?? 0) : (tallies[rc] ?? 0);
  }
  return n;
}

function outcomeWords(r: ProbeResult): string {
  const bad = Object.entries(r.outcomes).filter(([k]) => k !== 'ok');
  return bad.length ? ` (${bad.map(([k, v]) => `${k} ${v}`).join(', ')})` : '';
}

/** Did every failed attempt end in an outcome the kind calls degraded (src/probes/kinds: `check.degradedOutcome`)? */
function onlyDegraded(spec: CheckSpec, r: ProbeResult): boolean {
  const degraded = (PROBERS as Record<string, ProbeKind>)[spec.probe]?.check?.degradedOutcome;
  if (!degraded) return false;
  const bad = Object.entries(r.outcomes).filter(([k, n]) => k !== 'ok' && n > 0);
  return bad.length > 0 && bad.every(([k]) => degraded(k));
}

function judgeScope(spec: CheckSpec, r: ProbeResult, scope: string | undefined): Measure[] {
  const out: Measure[] = [];
  const e = spec.expect;
  const w = spec.warn;
  const label = scope ? `${scope} ` : '';

  // Success rate. Without any successRate limit: all failed is CRITICAL, some failed WARNING.
  const accepted = e.rcode ?? w.rcode;
  const good = successesOf(r, accepted);
  // A failure of this machine (no file descriptors, no local port) says nothing about the target:
  // the rate is over the attempts that reached it.
  const local = Math.min((r.localErrors as number | undefined) ?? 0, r.attempts - good);
  const measured = r.attempts - local;
  const rate = measured ? good / measured : 0;
  const crit = e.successRate;
  const warn = w.successRate ?? (e.successRate === undefined ? 1 : undefined);
  let state: State = 'OK';
  if (r.attempts === 0 || measured === 0) state = 'UNKNOWN';
  else if (crit !== undefined ? rate < crit : good === 0) state = 'CRITICAL';
  else if (warn !== undefined && rate < warn) state = 'WARNING';
  // Failures the kind calls degraded (http 4xx: the server answers, the URL is wrong) warn, not page.
  if (state === 'CRITICAL' && onlyDegraded(spec, r)) state = 'WARNING';
  const limit = state === 'CRITICAL' ? crit : warn;
  let text = `${label}success ${good}/${measured}${outcomeWords(r)}`;
  if (local > 0 && state !== 'UNKNOWN') text += ` (${local} more failed on this machine, not counted)`;
  if (state === 'UNKNOWN' && local > 0) text += `: failed on this machine (${Object.keys(r.errors ?? {}).join('; ')})`;
  else if (r.attempts === 0) text += ': no attempt was made';
  else if (state !== 'OK' && limit !== undefined) text += ` < ${pct(limit)}`;
  out.push({ key: 'successRate', scope, value: measured ? rate : null, crit, warn, direction: 'below', state, text });

  for (const p of ['p50', 'p90', 'p99'] as const) {
    const c = e[p];
    const wv = w[p];
    const v = r.latencyMs ? r.latencyMs[p] : null;
    if (c === undefined && wv === undefined) {
      if (v !== null && (p === 'p50' || p === 'p99'))
        out.push({ key: p, scope, value: v, direction: 'above', state: 'OK', text: `${label}${p} ${ms(v)}` });
      continue;
    }
    if (v === null) {
      out.push({
        key: p,
        scope,
        value: null,
        crit: c,
        warn: wv,
        direction: 'above',
        state: 'OK',
        text: `${label}${p} n/a (no successful attempt)`,
      });
      continue;
    }
    const s: State = c !== undefined && v > c ? 'CRITICAL' : wv !== undefined && v > wv ? 'WARNING' : 'OK';
    const lim = s === 'CRITICAL' ? c : wv;
    out.push({
      key: p,
      scope,
      value: v,
      crit: c,
      warn: wv,
      direction: 'above',
      state: s,
      text: `${label}${p} ${ms(v)}${s !== 'OK' ? ` > ${ms(lim!)}` : ''}`,
    });
  }

  if (spec.probe === 'tls') {
    const version = (r.negotiated as { version?: string | null } | undefined)?.version ?? null;
    const c = e.minTlsVersion;
    const wv = w.minTlsVersion;
    if (c !== undefined || wv !== undefined || version) {
      const s: State =
        version === null ? 'OK' : c !== undefined && version < c ? 'CRITICAL' : wv !== undefined && version < wv ? 'WARNING' : 'OK';
      const lim = s === 'CRITICAL' ? c : wv;
      out.push({
        key: 'minTlsVersion',
        scope,
        value: version,
        crit: c,
        warn: wv,
        state: s,
        text: `${label}${version ?? 'no handshake'}${s !== 'OK' ? ` < ${lim}` : ''}`,
      });
    }
    const days = (r.certificate as { daysLeft?: number } | undefined)?.daysLeft;
    const cd = e.certDaysLeft;
    const wd = w.certDaysLeft;
    if (days !== undefined || cd !== undefined || wd !== undefined) {
      const v = days ?? null;
      const s: State = v === null ? 'OK' : cd !== undefined && v < cd ? 'CRITICAL' : wd !== undefined && v < wd ? 'WARNING' : 'OK';
      const lim = s === 'CRITICAL' ? cd : wd;
      const words = v === null ? 'certificate n/a' : v < 0 ? `certificate expired ${-v} days ago` : `certificate ${v} days left`;
      out.push({
        key: 'certDaysLeft',
        scope,
        value: v,
        crit: cd,
        warn: wd,
        direction: 'below',
        state: s,
        text: `${label}${words}${s !== 'OK' ? ` < ${lim}` : ''}`,
      });
    }
  }

  if (spec.probe === 'dns' && (e.rcode || w.rcode)) {
    const tallies = (r.rcodes ?? {}) as Record<string, number>;
    const seen = Object.entries(tallies);
    const off = (list: string[] | undefined) => (list ? seen.filter(([k]) => !list.includes(k)) : []);
    const cBad = off(e.rcode);
    const wBad = off(w.rcode);
    const s: State = cBad.length ? 'CRITICAL' : wBad.length ? 'WARNING' : 'OK';
    const bad = s === 'CRITICAL' ? cBad : wBad;
    const lim = s === 'CRITICAL' ? e.rcode : w.rcode;
    const value = seen.map(([k, v]) => `${k} ${v}`).join(', ') || 'no reply';
    out.push({
      key: 'rcode',
      scope,
      value,
      crit: e.rcode,
      warn: w.rcode,
      state: s,
      text:
        s === 'OK'
          ? `${label}rcode ${value}`
          : `${label}rcode ${bad.map(([k, v]) => `${k} ${v}/${r.attempts}`).join(', ')} (expected ${lim!.join(' or ')})`,
    });
  }
  return out;
}

/** Judges a check run against its thresholds. Pure: the same facts give the same verdict. */
export function judgeCheck(spec: CheckSpec, facts: RunFacts): Verdict {
  if (facts.error) return { state: 'UNKNOWN', reasons: [facts.error], measures: [] };
  if (facts.unresolved?.length) {
    // Nothing could be attempted: a success rate of 0, so graphs and alerts see the failure too.
    const measures: Measure[] = facts.unresolved.map((u) => ({
      key: 'successRate',
      scope: spec.probe === 'dns' ? u.key : undefined,
      value: 0,
      crit: spec.expect.successRate,
      direction: 'below',
      state: 'CRITICAL',
      text: `${u.key} does not resolve: DNS ${u.outcome} (${u.cause})`,
    }));
    return { state: 'CRITICAL', reasons: measures.map((m) => m.text), measures };
  }
  const r = facts.result;
  if (!r) return { state: 'UNKNOWN', reasons: ['no result'], measures: [] };
  const by = (r.byServer ?? r.byTarget) as Record<string, ProbeResult> | undefined;
  const scopes: [string | undefined, ProbeResult][] = by && Object.keys(by).length > 1 ? Object.entries(by) : [[undefined, r]];
  const measures = scopes.flatMap(([scope, res]) => judgeScope(spec, res, scope));
  const state = worst(measures.map((m) => m.state));
  return { state, reasons: measures.filter((m) => m.state !== 'OK').map((m) => m.text), measures };
}
