import { escapeControl } from '../shell.js';
import type { ChalkInstance } from 'chalk';
import type { DiagnoseResult } from '../diagnose/chain.js';
import type { ProbeResult } from '../engine/summary.js';
import { fmtElapsed, fmtMs, table } from './format.js';
import { tlsOutcomePhase } from '../core/types.js';

/** Terminal width the output is laid out for. */
export const WIDTH = 80;

/** Word-wraps `text` to `width` columns, every line after the first indented by `indent`. */
export function wrap(text: string, width = WIDTH, first = '', indent = first.replace(/./g, ' ')): string {
  const words = text.split(/[ \t\n]+/).filter(Boolean);
  const lines: string[] = [];
  let line = first;
  let empty = true;
  for (const w of words) {
    if (!empty && line.length + 1 + w.length > width) {
      lines.push(line);
      line = indent + w;
    } else {
      line += (empty ? '' : ' ') + w;
    }
    empty = false;
  }
  lines.push(line);
  return lines.join('\n');
}

export interface WaterfallRow {
  phase: string;
  p50: number | null;
  p99: number | null;
  /** Attempts behind the figures. */
  n: number;
  /** When no attempt of the phase succeeded: its most frequent outcome (e.g. timeout). */
  failed?: string;
}

/** Lookup, connect, TLS and first byte, from the phase results (p50 and p99 of the successful attempts). */
export function waterfallRows(r: Pick<DiagnoseResult, 'dns' | 'tcp' | 'tls' | 'http' | 'resolver' | 'proxy'>): WaterfallRow[] {
  const rows: WaterfallRow[] = [];
  const row = (phase: string, res: ProbeResult | null | undefined, stats = res?.latencyMs) => {
    if (!res) return;
    const worst = Object.entries(res.outcomes)
      .filter(([k]) => k !== 'ok')
      .sort((a, b) => b[1] - a[1])[0]?.[0];
    rows.push({
      phase,
      p50: stats?.p50 ?? null,
      p99: stats?.p99 ?? null,
      n: res.succeeded,
      ...(res.succeeded === 0 && worst ? { failed: worst } : {}),
    });
  };
  if (r.dns) {
    if (r.dns.attempts > 0) row('lookup', r.dns);
    else rows.push({ phase: 'lookup', p50: r.dns.system.lookupMs, p99: r.dns.system.lookupMs, n: 1 });
  }
  row('connect', r.tcp);
  // Through a proxy: its connect and its answer to CONNECT, each its own row.
  if (r.proxy) {
    const st = (k: string) => r.proxy![k] as ProbeResult['latencyMs'] | undefined;
    const failedAt = (phase: 'proxy' | 'tunnel') => Object.keys(r.proxy!.outcomes).some((o) => o !== 'ok' && tlsOutcomePhase(o) === phase);
    // A phase no attempt got through shows as failed, whatever its answers took.
    const none = r.proxy.succeeded === 0;
    const all = (phase: 'proxy' | 'tunnel') => none && failedAt(phase);
    if (st('proxyConnectMs') || failedAt('proxy')) row('proxy connect', r.proxy, all('proxy') ? null : (st('proxyConnectMs') ?? null));
    if (st('tunnelMs') || failedAt('tunnel')) row('proxy CONNECT', r.proxy, all('tunnel') ? null : (st('tunnelMs') ?? null));
  }
  row('tls', r.tls);
  row('first byte', r.http);
  // A resolver's queries: the query time alone (the first one's connect and handshake are the rows above).
  row('dns query', r.resolver, (r.resolver?.queryMs as ProbeResult['latencyMs'] | undefined) ?? r.resolver?.latencyMs);
  return rows;
}

/** "2026-12-02 16:24:19 UTC" from an ISO 8601 time. */
export function utcText(iso: string): string {
  const m = /^(\d{4}-\d\d-\d\d)T(\d\d:\d\d:\d\d)/.exec(iso);
  return m ? `${m[1]} ${m[2]} UTC` : iso;
}

/** The distinct source addresses of a run's connections ("127.0.0.1, ::1"), or null when none is known. */
export function sourcesText(r: Pick<DiagnoseResult, 'addresses'>): string | null {
  const s = [...new Set(r.addresses.map((a) => a.source).filter((x): x is string => typeof x === 'string'))];
  return s.length ? s.join(', ') : null;
}

const plural = (n: number, one: string, many: string) => `${n} ${n === 1 ? one : many}`;

const STATUS_WORD = { ok: 'OK', degraded: 'DEGRADED', failing: 'FAILING' } as const;

function paintStatus(c: ChalkInstance, status: keyof typeof STATUS_WORD, text: string): string {
  return status === 'ok' ? c.green(text) : status === 'degraded' ? c.yellow(text) : c.red(text);
}

function phaseCell(res: ProbeResult | null | undefined, c: ChalkInstance): string {
  if (!res) return c.dim('-');
  if (res.succeeded === res.attempts) return c.green(`ok ${res.succeeded}/${res.attempts}`);
  const bad = Object.entries(res.outcomes)
    .filter(([k]) => k !== 'ok')
    .sort((a, b) => b[1] - a[1])[0];
  const text = `${bad?.[0] ?? 'failed'} ${bad?.[1] ?? res.failed}/${res.attempts}`;
  return res.succeeded === 0 ? c.red(text) : c.yellow(text);
}

function by(res: ProbeResult | null): Record<string, ProbeResult> {
  if (!res) return {};
  return (res.byTarget as Record<string, ProbeResult> | undefined) ?? { [res.target]: res };
}

/** Whether a next check is a command to run (else it is advice in words). */
export function isCommand(next: string): boolean {
  return /^(sudo |conndx |openssl |curl |getent |grep |dig |ss |ip )/.test(next);
}

/** The verdict block: status, phase and outcome, the one-sentence summary, evidence and next checks. */
export function renderVerdict(c: ChalkInstance, r: DiagnoseResult, o: { maxEvidence?: number; width?: number } = {}): string {
  const width = o.width ?? WIDTH;
  const v = r.verdict;
  const out: string[] = [];
  const head = v.status === 'ok' ? 'OK' : `${STATUS_WORD[v.status]} · ${v.phase} · ${v.outcome}`;
  // The whole block (the one people paste into a ticket) says when and from where on its first line.
  const stamp = o.maxEvidence === undefined ? c.dim(` · ${utcText(r.meta.startedAt)} · ${escapeControl(r.meta.host)}`) : '';
  out.push(c.bold(paintStatus(c, v.status, `VERDICT ${head}`)) + stamp);
  if (r.interrupted) out.push(c.yellow('  interrupted (Ctrl-C): judged on the phases that ran; later phases were not run'));
  out.push(wrap(escapeControl(v.summary), width, '  '));
  const ev = o.maxEvidence !== undefined ? v.evidence.slice(0, o.maxEvidence) : v.evidence;
  if (ev.length) {
    out.push('evidence:');
    for (const e of ev) out.push(wrap(escapeControl(e.trim()), width, e.startsWith('  ') ? '      ' : '  - ', '      '));
    if (ev.length < v.evidence.length) out.push(c.dim(`  … ${v.evidence.length - ev.length} more`));
  }
  if (v.next.length && o.maxEvidence === undefined) {
    out.push('next checks:');
    // A command is not wrapped: it pastes into a shell as one line, its arguments quoted. Only
    // commands get the `$` prompt; advice in words is a wrapped bullet.
    for (const n of v.next) out.push(isCommand(n) ? `  $ ${escapeControl(n)}` : wrap(escapeControl(n), width, '  - ', '    '));
  }
  return out.join('\n');
}

/**
 * The whole human report of `conndx diagnose`, readable at 80 columns. A
 * healthy target gets the short answer (verdict and waterfall) unless
 * `verbose`; anything else gets the DNS and per-address tables too.
 */
export function renderDiagnose(c: ChalkInstance, r: DiagnoseResult, o: { verbose?: boolean } = {}): string {
  const full = o.verbose || r.verdict.status !== 'ok' || r.capture !== undefined;
  const out: string[] = [];
  const p = r.plan;
  const chain = [
    'dns' as const,
    ...(p.proxy ? [`proxy ${p.proxy}`, 'CONNECT'] : ['tcp']),
    ...(p.tls ? (p.starttls ? [`starttls ${p.starttls}`, 'tls'] : ['tls']) : []),
    ...(p.http ? ['http'] : []),
    ...(p.resolver ? [`${p.resolver.transport} query ${p.resolver.name} ${p.resolver.type}`] : []),
  ].filter((x) => x !== 'dns' || r.dns);
  out.push(c.bold(wrap(`conndx diagnose ${escapeControl(r.target)}`, WIDTH)));
  out.push(
    c.dim(
      wrap(
        `${chain.join(' → ')}, count ${p.count}, timeout ${fmtElapsed(p.timeoutMs)}${p.sni && p.tls ? `, sni ${escapeControl(p.sni)}` : ''}, took ${fmtElapsed(r.elapsedMs).replace(' ', '\u00a0')}`,
        WIDTH,
      ),
    ),
  );
  out.push('');
  out.push(renderVerdict(c, r));
  out.push('');

  // Waterfall: each phase's p50 bar, placed after the phases before it; p99 in the figures.
  const rows = waterfallRows(r);
  if (rows.length) {
    const total = rows.reduce((s, x) => s + (x.p50 ?? 0), 0) || 1;
    const barWidth = 36;
    let at = 0;
    const trows: string[][] = [['phase', 'p50 ms', 'p99 ms', '']];
    for (const x of rows) {
      const start = Math.round((at / total) * barWidth);
      const len = x.p50 === null ? 0 : Math.max(1, Math.round((x.p50 / total) * barWidth));
      // A failed phase says how: a timeout took the whole --timeout, every time.
      const how =
        x.failed === 'timeout' || x.failed === 'tcp:timeout'
          ? `failed: timeout after ${fmtElapsed(p.timeoutMs)}`
          : `failed: ${x.failed ?? '-'}`;
      trows.push([x.phase, fmtMs(x.p50), fmtMs(x.p99), x.p50 === null ? c.red(how) : ' '.repeat(start) + '█'.repeat(len)]);
      at += x.p50 ?? 0;
    }
    const broken = rows.find((x) => x.p50 === null);
    out.push(
      c.bold('waterfall') +
        c.dim(broken ? ` (p50 bars of the phases that worked; ${broken.phase} failed)` : ` (p50 bars, ${fmtMs(total)} ms in all)`),
    );
    out.push(table(trows, { header: true, indent: '  ' }));
    if (full) out.push('');
  }
  if (!full) {
    out.push(
      c.dim(`${plural(r.addresses.length, 'address', 'addresses')}: ${r.addresses.map((a) => a.key).join(', ')} (-v for the tables)`),
    );
    return out.join('\n') + '\n';
  }

  if (r.dns) {
    const d = r.dns;
    const s = d.system;
    out.push(c.bold('dns') + ` ${d.queried}`);
    out.push(
      wrap(
        `system (${s.source}${s.via ? `, ${s.via}` : ''}): ${s.outcome === 'ok' ? s.addresses.join(' ') : c.red(s.outcome)} in ${fmtMs(s.lookupMs)} ms`,
        WIDTH,
        '  ',
      ),
    );
    const servers = (d.byServer as Record<string, ProbeResult> | undefined) ?? (d.attempts ? { [p.servers[0] ?? d.target]: d } : {});
    const trows: string[][] = [['resolver', 'A', 'AAAA', 'p50', 'p99', 'max']];
    for (const [k, res] of Object.entries(servers)) {
      const typeCell = (t: string) => {
        const tr = d.byType[t];
        if (!tr) return '-';
        const x = (tr.byServer as Record<string, ProbeResult> | undefined)?.[k] ?? tr;
        return phaseCell(x, c);
      };
      trows.push([k, typeCell('A'), typeCell('AAAA'), fmtMs(res.latencyMs?.p50), fmtMs(res.latencyMs?.p99), fmtMs(res.latencyMs?.max)]);
    }
    if (trows.length > 1) out.push(table(trows, { header: true, indent: '  ' }));
    out.push('');
  }

  if (r.addresses.length) {
    out.push(c.bold('per address'));
    const trows: string[][] = [
      ['address', p.proxy ? 'proxy' : 'tcp', ...(p.tls ? ['tls'] : []), ...(p.http ? ['http'] : []), ...(p.resolver ? ['query'] : [])],
    ];
    for (const a of r.addresses) {
      trows.push([
        a.key,
        phaseCell(by(r.tcp ?? r.proxy ?? null)[a.key], c),
        ...(p.tls ? [phaseCell(by(r.tls)[a.key], c)] : []),
        ...(p.http ? [phaseCell(by(r.http)[a.key], c)] : []),
        ...(p.resolver ? [phaseCell(by(r.resolver ?? null)[a.key], c)] : []),
      ]);
    }
    out.push(table(trows, { header: true, indent: '  ' }));
    out.push(c.dim(wrap(`from: ${r.addresses.map((a) => `${a.address} ← ${a.from.join(', ')}`).join('; ')}`, WIDTH, '  ')));
    const src = sourcesText(r);
    if (src) out.push(c.dim(wrap(`source address: ${src}`, WIDTH, '  ')));
  }
  const neg = r.tls?.negotiated as { version?: string; cipher?: string; alpn?: string } | undefined;
  if (neg) out.push(wrap(`tls: ${neg.version ?? '-'} ${neg.cipher ?? ''}${neg.alpn ? ` alpn ${neg.alpn}` : ''}`, WIDTH, '  '));
  const cap = r.capture;
  if (cap) {
    out.push('');
    const sum = cap.summary as { packets?: number; tcp?: { records?: number } } | undefined;
    out.push(
      wrap(
        cap.ok
          ? `capture: ${sum?.packets ?? 0} packets, ${sum?.tcp?.records ?? 0} connection records; ${cap.lines.length ? 'their evidence is in the verdict above' : 'nothing the probes did not see'}`
          : `capture: not taken: ${cap.reason}`,
        WIDTH,
      ),
    );
  }
  return out.join('\n') + '\n';
}
