import type { DiagnoseResult } from '../diagnose/chain.js';
import type { ProbeResult } from '../engine/summary.js';
import { daysLeftText, fmtElapsed, fmtMs } from './format.js';
import { escapeControl } from '../shell.js';
import { sourcesText, waterfallRows } from './diagnose-terminal.js';

/** A table cell: pipes escaped, newlines flattened (GitHub-flavoured Markdown tables). */
export function cell(text: unknown): string {
  return String(text ?? '')
    .replace(/\\/g, '\\\\')
    .replace(/\|/g, '\\|')
    .replace(/\r?\n/g, ' ');
}

const NUMERIC = /^[-–\d.,/ ]+(ms|s)?$/;

/** A GFM table; columns whose every cell is a figure are right-aligned. */
export function mdTable(head: string[], rows: unknown[][]): string {
  const right = head.map((_, i) => i > 0 && rows.length > 0 && rows.every((r) => NUMERIC.test(String(r[i] ?? ''))));
  const out = [`| ${head.map(cell).join(' | ')} |`, `| ${head.map((_, i) => (right[i] ? '---:' : '---')).join(' | ')} |`];
  for (const r of rows) out.push(`| ${r.map(cell).join(' | ')} |`);
  return out.join('\n');
}

/** Inline code that shows `s` exactly: a fence longer than any run of backticks inside, control characters escaped. */
const code = (s: string) => {
  const t = escapeControl(s);
  const longest = Math.max(0, ...(t.match(/`+/g) ?? []).map((r) => r.length));
  const fence = '`'.repeat(longest + 1);
  return longest ? `${fence} ${t} ${fence}` : `${fence}${t}${fence}`;
};

function outcomesText(r: ProbeResult | undefined | null): string {
  if (!r) return '–';
  return Object.entries(r.outcomes)
    .sort((a, b) => b[1] - a[1])
    .map(([k, v]) => `${k} ${v}/${r.attempts}`)
    .join(', ');
}

function by(res: ProbeResult | null): Record<string, ProbeResult> {
  if (!res) return {};
  return (res.byTarget as Record<string, ProbeResult> | undefined) ?? { [res.target]: res };
}

function utc(iso: string): string {
  return iso
    .replace('T', ' ')
    .replace(/\.\d+Z$/, ' UTC')
    .replace(/Z$/, ' UTC');
}

/** Markdown ready to paste into a ticket: the verdict first, then the evidence tables. */
export function renderDiagnoseMarkdown(r: DiagnoseResult): string {
  const v = r.verdict;
  const m = r.meta;
  const out: string[] = [];
  const icon = v.status === 'ok' ? '✅' : v.status === 'degraded' ? '⚠️' : '❌';
  out.push(`# conndx diagnose ${r.target}`);
  out.push('');
  if (r.interrupted) {
    out.push('> **Interrupted** (Ctrl-C): judged on the phases that ran; the phases after were not run.');
    out.push('');
  }
  out.push(`**Verdict: ${icon} ${v.status.toUpperCase()}** — phase **${v.phase}**, outcome **${code(v.outcome)}**`);
  out.push('');
  out.push(`> ${v.summary}`);
  out.push('');
  out.push(
    mdTable(
      ['run', ''],
      [
        ['command', code(m.command)],
        ['started', utc(m.startedAt)],
        ['host', m.host],
        ['source address', sourcesText(r) ?? '–'],
        ...(r.interrupted ? [['interrupted', 'yes (Ctrl-C)']] : []),
        ...(r.redacted ? [['redacted', 'names, addresses, paths and queries are placeholders']] : []),
        ['conndx', m.conndxVersion],
        ['took', fmtElapsed(r.elapsedMs)],
        ['count / timeout', `${r.plan.count} / ${fmtElapsed(r.plan.timeoutMs)}`],
      ],
    ),
  );
  out.push('');
  if (v.evidence.length) {
    out.push('## Evidence');
    out.push('');
    for (const e of v.evidence) out.push(`${e.startsWith('  ') ? '  ' : ''}- ${e.trim()}`);
    out.push('');
  }
  if (v.next.length) {
    out.push('## Next checks');
    out.push('');
    for (const n of v.next) out.push(`- ${code(n)}`);
    out.push('');
  }
  const rows = waterfallRows(r);
  if (rows.length) {
    out.push('## Phase waterfall');
    out.push('');
    out.push(
      mdTable(
        ['phase', 'p50 ms', 'p99 ms', 'successful attempts'],
        rows.map((x) => [x.phase, fmtMs(x.p50), fmtMs(x.p99), x.n]),
      ),
    );
    out.push('');
  }
  if (r.dns) {
    const d = r.dns;
    const s = d.system;
    out.push('## DNS');
    out.push('');
    out.push(
      `System resolver (${s.source}${s.via ? `, ${s.via}` : ''}): **${s.outcome}**${s.addresses.length ? ` → ${s.addresses.map(code).join(', ')}` : ''} in ${fmtMs(s.lookupMs)} ms${s.cause ? ` (${s.cause})` : ''}.` +
        (d.queried !== r.plan.host ? ` The resolvers were asked for ${code(d.queried)}.` : ''),
    );
    out.push('');
    const servers = (d.byServer as Record<string, ProbeResult> | undefined) ?? (d.attempts ? { [r.plan.servers[0] ?? d.target]: d } : {});
    if (Object.keys(servers).length) {
      out.push(
        mdTable(
          ['resolver', 'outcomes', 'p50 ms', 'p90 ms', 'p99 ms', 'max ms', 'answers'],
          Object.entries(servers).map(([k, x]) => [
            k,
            outcomesText(x),
            fmtMs(x.latencyMs?.p50),
            fmtMs(x.latencyMs?.p90),
            fmtMs(x.latencyMs?.p99),
            fmtMs(x.latencyMs?.max),
            ((x.answers as string[] | undefined) ?? []).map((a) => a.split(' ').slice(2).join(' ')).join('; ') || '–',
          ]),
        ),
      );
      out.push('');
    }
  }
  if (r.addresses.length) {
    out.push('## Per address');
    out.push('');
    const head = ['address', 'from', 'source', 'tcp', 'connect p50/p99 ms'];
    if (r.plan.tls) head.push('tls', 'handshake p50/p99 ms');
    if (r.plan.http) head.push('http', 'first byte p50/p99 ms');
    const pp = (x: ProbeResult | undefined) => (x?.latencyMs ? `${fmtMs(x.latencyMs.p50)} / ${fmtMs(x.latencyMs.p99)}` : '–');
    out.push(
      mdTable(
        head,
        r.addresses.map((a) => {
          const t = by(r.tcp)[a.key],
            s = by(r.tls)[a.key],
            h = by(r.http)[a.key];
          const row: unknown[] = [a.key, a.from.join(', '), a.source ?? '–', outcomesText(t), pp(t)];
          if (r.plan.tls) row.push(outcomesText(s), pp(s));
          if (r.plan.http) row.push(outcomesText(h), pp(h));
          return row;
        }),
      ),
    );
    out.push('');
  }
  const neg = r.tls?.negotiated as Record<string, unknown> | undefined;
  const cert = r.tls?.certificate as Record<string, unknown> | undefined;
  if (neg || cert) {
    out.push('## TLS');
    out.push('');
    const rows: unknown[][] = [];
    if (neg) rows.push(['negotiated', `${neg.version ?? '–'} ${neg.cipher ?? ''}, group ${neg.group ?? '–'}, alpn ${neg.alpn ?? '–'}`]);
    if (cert) {
      rows.push(
        ['subject', cert.subject],
        ['issuer', cert.issuer],
        ['valid', `${String(cert.notBefore)} to ${String(cert.notAfter)} (${daysLeftText(cert.daysLeft)})`],
      );
      rows.push(
        ['names', ((cert.sans as string[] | undefined) ?? []).join(', ')],
        ['chain', `${String(cert.chainLength)} certificates, self-signed ${cert.selfSigned ? 'yes' : 'no'}`],
      );
    }
    out.push(mdTable(['', ''], rows));
    out.push('');
  }
  if (r.capture) {
    out.push('## Packet capture');
    out.push('');
    if (!r.capture.ok) out.push(`Not taken: ${r.capture.reason}.`);
    else if (!r.capture.lines.length) out.push('Captured; nothing beyond what the probes saw.');
    else for (const l of r.capture.lines) out.push(`- ${l}`);
    out.push('');
  }
  out.push(`<sub>conndx ${m.conndxVersion} on ${m.host}, ${utc(m.startedAt)}</sub>`);
  return out.join('\n') + '\n';
}
