import type { DiagnoseResult } from '../diagnose/chain.js';
import { decodeHistogram } from '../core/histogram.js';
import type { ProbeResult } from '../engine/summary.js';
import { daysLeftText, fmtElapsed, fmtMs } from './format.js';
import { sourcesText, waterfallRows, type WaterfallRow } from './diagnose-terminal.js';

const ESC: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };
export const esc = (s: unknown) => String(s ?? '').replace(/[&<>"']/g, (c) => ESC[c]!);

const COLORS: Record<string, string> = { lookup: '#6f42c1', connect: '#1f77b4', tls: '#2ca02c', 'first byte': '#ff7f0e' };
const STATUS_COLOR = { ok: '#1a7f37', degraded: '#9a6700', failing: '#cf222e' } as const;

/**
 * The waterfall as SVG, drawn as a browser's network panel draws a request:
 * each phase's p50 bar starts where the one before ended, the axis is the
 * total, and a whisker reaches the phase's p99. A phase that timed out every
 * time is a hatched bar as long as the timeout it waited.
 */
export function waterfallSvg(rows: WaterfallRow[], timeoutMs?: number): string {
  const W = 760,
    left = 110,
    right = 210,
    rowH = 28,
    top = 24;
  const H = top + rows.length * rowH + 28;
  const waited = (r: WaterfallRow) => (r.p50 === null && timeoutMs && /(^|:)timeout$/.test(r.failed ?? '') ? timeoutMs : null);
  const total = rows.reduce((s, r) => s + (r.p50 ?? waited(r) ?? 0), 0);
  // The axis is the whole (the p50s end to end); a p99 whisker that reaches past it stops at the edge with an arrow.
  const span = total || 1;
  const x = (ms: number) => left + (ms / span) * (W - left - right);
  const parts: string[] = [];
  parts.push(
    `<svg id="waterfall" xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" role="img" aria-label="phase waterfall">`,
  );
  parts.push(
    '<defs><pattern id="hatch" width="6" height="6" patternUnits="userSpaceOnUse" patternTransform="rotate(45)"><rect width="6" height="6" fill="#ffebe9"/><line x1="0" y1="0" x2="0" y2="6" stroke="#cf222e" stroke-width="2"/></pattern></defs>',
  );
  parts.push(
    `<text x="${left}" y="14" class="axis">0 ms</text><text x="${W - right}" y="14" class="axis" text-anchor="end">${esc(fmtMs(span))} ms</text>`,
  );
  let at = 0;
  rows.forEach((r, i) => {
    const y = top + i * rowH;
    const color = COLORS[r.phase] ?? '#555';
    parts.push(`<text x="${left - 8}" y="${y + 17}" text-anchor="end" class="label">${esc(r.phase)}</text>`);
    if (r.p50 === null) {
      const ms = waited(r);
      if (ms !== null) {
        parts.push(
          `<rect class="bar failed" data-phase="${esc(r.phase)}" x="${x(at).toFixed(1)}" y="${y + 5}" width="${Math.max(2, x(at + ms) - x(at)).toFixed(1)}" height="16" fill="url(#hatch)" stroke="#cf222e"><title>${esc(r.phase)}: timeout after ${esc(fmtElapsed(ms))}, every attempt</title></rect>`,
        );
        at += ms;
      }
      parts.push(
        `<text x="${W - right + 8}" y="${y + 17}" class="fail">failed: ${esc(ms !== null ? `timeout after ${fmtElapsed(ms)}` : (r.failed ?? 'no successful attempt'))}</text>`,
      );
    } else {
      const w = Math.max(2, x(at + r.p50) - x(at));
      parts.push(
        `<rect class="bar" data-phase="${esc(r.phase)}" x="${x(at).toFixed(1)}" y="${y + 5}" width="${w.toFixed(1)}" height="16" fill="${color}"><title>${esc(r.phase)} p50 ${esc(fmtMs(r.p50))} ms, p99 ${esc(fmtMs(r.p99))} ms</title></rect>`,
      );
      if (r.p99 !== null && r.p99 > r.p50) {
        parts.push(
          `<line class="whisker" x1="${x(at + r.p50).toFixed(1)}" x2="${x(Math.min(span, at + r.p99)).toFixed(1)}" y1="${y + 13}" y2="${y + 13}" stroke="${color}" stroke-width="2"/>`,
        );
        parts.push(
          at + r.p99 <= span
            ? `<line x1="${x(at + r.p99).toFixed(1)}" x2="${x(at + r.p99).toFixed(1)}" y1="${y + 8}" y2="${y + 18}" stroke="${color}" stroke-width="2"/>`
            : `<path class="beyond" d="M${x(span).toFixed(1)} ${y + 8} l6 5 l-6 5 z" fill="${color}"/>`,
        );
      }
      parts.push(`<text x="${W - right + 8}" y="${y + 17}" class="fig">p50 ${esc(fmtMs(r.p50))} · p99 ${esc(fmtMs(r.p99))} ms</text>`);
      at += r.p50;
    }
  });
  parts.push('</svg>');
  return parts.join('');
}

/** A latency histogram of one phase as SVG bars (log-spaced bins of the encoded HdrHistogram). */
export function histogramSvg(title: string, res: ProbeResult | null | undefined, color: string): string {
  const enc = res?.histograms?.latency;
  if (!enc || enc.count === 0) return '';
  const bins = decodeHistogram(enc).bins(12);
  const W = 340,
    H = 150,
    left = 34,
    bottom = 34,
    top = 22;
  const max = Math.max(1, ...bins.map((b) => b.count));
  const bw = (W - left - 8) / Math.max(1, bins.length);
  const parts: string[] = [];
  parts.push(
    `<svg class="histogram" data-phase="${esc(title)}" xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" role="img" aria-label="${esc(title)} latency histogram">`,
  );
  parts.push(`<text x="${left}" y="14" class="label">${esc(title)} (${enc.count} attempts)</text>`);
  parts.push(`<line x1="${left}" x2="${W - 8}" y1="${H - bottom}" y2="${H - bottom}" stroke="#888"/>`);
  parts.push(`<text x="${left - 4}" y="${top + 8}" class="axis" text-anchor="end">${max}</text>`);
  bins.forEach((b, i) => {
    const h = ((H - bottom - top) * b.count) / max;
    const x = left + i * bw;
    parts.push(
      `<rect class="hbar" x="${(x + 1).toFixed(1)}" y="${(H - bottom - h).toFixed(1)}" width="${Math.max(1, bw - 2).toFixed(1)}" height="${h.toFixed(1)}" fill="${color}"><title>${esc(fmtMs(b.fromMs))}–${esc(fmtMs(b.toMs))} ms: ${b.count}</title></rect>`,
    );
  });
  parts.push(`<text x="${left}" y="${H - bottom + 14}" class="axis">${esc(fmtMs(bins[0]?.fromMs))} ms</text>`);
  parts.push(
    `<text x="${W - 8}" y="${H - bottom + 14}" class="axis" text-anchor="end">${esc(fmtMs(bins[bins.length - 1]?.toMs))} ms</text>`,
  );
  parts.push('</svg>');
  return parts.join('');
}

function table(head: string[], rows: unknown[][]): string {
  const thead = head.some(Boolean) ? `<thead><tr>${head.map((h) => `<th>${esc(h)}</th>`).join('')}</tr></thead>` : '';
  return `<table>${thead}<tbody>${rows.map((r) => `<tr>${r.map((c) => `<td>${esc(c)}</td>`).join('')}</tr>`).join('')}</tbody></table>`;
}

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

const pp = (x: ProbeResult | undefined | null) => (x?.latencyMs ? `${fmtMs(x.latencyMs.p50)} / ${fmtMs(x.latencyMs.p99)}` : '–');

/** Every resolved address of the target: who gave it, the source address used, and each phase's outcome and p50/p99 there. */
function perAddressHtml(r: DiagnoseResult): string {
  const head = ['address', 'from', 'source', 'tcp', 'connect p50 / p99 ms'];
  if (r.plan.tls) head.push('tls', 'handshake p50 / p99 ms');
  if (r.plan.http) head.push('http', 'first byte p50 / p99 ms');
  const rows = r.addresses.map((a) => {
    const t = by(r.tcp)[a.key],
      s = by(r.tls)[a.key],
      hh = by(r.http)[a.key];
    const row: unknown[] = [a.key, a.from.join(', '), a.source ?? '–', outcomesText(t), pp(t)];
    if (r.plan.tls) row.push(outcomesText(s), pp(s));
    if (r.plan.http) row.push(outcomesText(hh), pp(hh));
    return row;
  });
  return `<h2>Per address</h2>${table(head, rows).replace('<table>', '<table id="per-address">')}`;
}

interface CertView {
  subject?: string;
  issuer?: string;
  notBefore?: string;
  notAfter?: string;
  daysLeft?: number;
  sans?: string[];
  key?: string | null;
  fingerprint256?: string;
  selfSigned?: boolean;
  ocspStapled?: boolean;
  chain?: {
    subject: string;
    issuer: string;
    notAfter: string;
    daysLeft: number;
    key: string | null;
    fingerprint256: string;
    source: string;
  }[];
}

/** The TLS facts: what was negotiated, the chain as the server sent it, and the certificate problem if there is one. */
function tlsHtml(r: DiagnoseResult): string {
  const tls = r.tls;
  if (!tls) return '';
  const neg = tls.negotiated as { version?: string; cipher?: string; group?: string; alpn?: string; resumed?: boolean } | undefined;
  const cert = tls.certificate as CertView | undefined;
  const problem = (tls.certProblem as { outcome: string; cause: string } | undefined) ?? null;
  const certOutcome = Object.keys(tls.outcomes).find((k) => k.startsWith('cert-'));
  if (!neg && !cert && !certOutcome) return '';
  const h: string[] = ['<h2>TLS and certificate</h2>', '<div id="tls">'];
  if (neg) {
    h.push(
      table(['version', 'cipher', 'group', 'ALPN'], [[neg.version ?? '–', neg.cipher ?? '–', neg.group ?? '–', neg.alpn ?? '–']]).replace(
        '<table>',
        '<table id="negotiated">',
      ),
    );
  }
  const prob = problem ?? (certOutcome ? { outcome: certOutcome, cause: '' } : null);
  if (prob)
    h.push(
      `<p class="cert-problem" id="cert-problem"><b>Certificate problem: ${esc(prob.outcome)}</b>${prob.cause ? ` (${esc(prob.cause)})` : ''}${problem && tls.succeeded > 0 ? ', not failed: --insecure' : ''}</p>`,
    );
  if (cert) {
    h.push(
      table(
        ['', ''],
        [
          ['subject', cert.subject ?? '–'],
          ['issuer', cert.issuer ?? '–'],
          ['valid', `${cert.notBefore ?? '?'} to ${cert.notAfter ?? '?'} (${daysLeftText(cert.daysLeft)})`],
          ['names', (cert.sans ?? []).join(', ') || '–'],
          ['key', cert.key ?? '–'],
          ['sha256', cert.fingerprint256 ?? '–'],
          ['OCSP staple', cert.ocspStapled ? 'yes' : 'no'],
        ],
      ).replace('<table>', '<table class="meta" id="leaf">'),
    );
    if (cert.chain?.length) {
      h.push('<h3>Chain, leaf first</h3>');
      h.push(
        table(
          ['#', 'subject', 'issuer', 'days left', 'key', 'sha256', 'from'],
          cert.chain.map((c, i) => [
            i,
            c.subject,
            c.issuer,
            daysLeftText(c.daysLeft),
            c.key ?? '–',
            c.fingerprint256,
            c.source === 'sent' ? 'sent by the server' : 'trust store',
          ]),
        )
          .replace('<table>', '<table id="chain">')
          .replace(/<td>(expired [^<]*)<\/td>/g, '<td class="bad">$1</td>'),
      );
    }
  }
  h.push('</div>');
  return h.join('');
}

const CSS = `
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;margin:24px auto;max-width:980px;color:#1f2328;padding:0 16px}
h1{font-size:20px;margin:0 0 4px} h2{font-size:16px;margin:24px 0 8px;border-bottom:1px solid #d0d7de;padding-bottom:4px}
.verdict{border-left:6px solid;padding:8px 14px;background:#f6f8fa;margin:12px 0}
.verdict .head{font-weight:700;font-size:16px} code,.mono{font-family:ui-monospace,Menlo,Consolas,monospace;font-size:13px}
table{border-collapse:collapse;margin:6px 0} th,td{border:1px solid #d0d7de;padding:3px 8px;text-align:left;font-size:13px} th{background:#f6f8fa}
.meta td:first-child{font-weight:600} .charts{display:flex;flex-wrap:wrap;gap:12px}
svg text{font:12px system-ui,sans-serif;fill:#1f2328} svg .axis{fill:#57606a;font-size:11px} svg .fail{fill:#cf222e}
ul{margin:4px 0;padding-left:22px} h3{font-size:14px;margin:14px 0 4px}
.interrupted,.cert-problem{border-left:6px solid #cf222e;background:#ffebe9;padding:6px 12px} td.bad{color:#cf222e;font-weight:600}
#chain td:nth-child(6){font-family:ui-monospace,Menlo,Consolas,monospace;font-size:11px;word-break:break-all}`;

/** One self-contained page: no scripts, fonts or images from elsewhere; charts are inline SVG. */
export function renderDiagnoseHtml(r: DiagnoseResult): string {
  const v = r.verdict;
  const m = r.meta;
  const color = STATUS_COLOR[v.status];
  const rows = waterfallRows(r);
  const h: string[] = [];
  h.push('<!doctype html><html lang="en"><head><meta charset="utf-8">');
  h.push('<meta name="viewport" content="width=device-width, initial-scale=1">');
  h.push(`<title>conndx diagnose ${esc(r.target)}: ${esc(v.status)}</title><style>${CSS}</style></head><body>`);
  h.push(`<h1>conndx diagnose <span class="mono">${esc(r.target)}</span></h1>`);
  if (r.interrupted)
    h.push(
      '<p class="interrupted" id="interrupted">Interrupted (Ctrl-C): judged on the phases that ran; the phases after were not run.</p>',
    );
  h.push(
    `<div class="verdict" id="verdict" data-status="${esc(v.status)}" data-phase="${esc(v.phase)}" data-outcome="${esc(v.outcome)}" style="border-color:${color}">`,
  );
  h.push(
    `<div class="head" style="color:${color}">${esc(v.status.toUpperCase())}${v.status === 'ok' ? '' : ` · phase ${esc(v.phase)} · ${esc(v.outcome)}`}</div>`,
  );
  h.push(`<p>${esc(v.summary)}</p></div>`);
  h.push(
    table(
      ['', ''],
      [
        ['command', m.command],
        ['started (UTC)', m.startedAt],
        ['host', m.host],
        ['source address', sourcesText(r) ?? '–'],
        ...(r.interrupted ? [['interrupted', 'yes (Ctrl-C): judged on the phases that ran']] : []),
        ...(r.redacted ? [['redacted', 'names, addresses, paths and queries are placeholders']] : []),
        ['conndx', m.conndxVersion],
        ['took', fmtElapsed(r.elapsedMs)],
        ['count / timeout', `${r.plan.count} / ${fmtElapsed(r.plan.timeoutMs)}`],
      ],
    ).replace('<table>', '<table class="meta">'),
  );
  if (v.evidence.length) h.push(`<h2>Evidence</h2><ul>${v.evidence.map((e) => `<li>${esc(e.trim())}</li>`).join('')}</ul>`);
  if (v.next.length) h.push(`<h2>Next checks</h2><ul>${v.next.map((n) => `<li><code>${esc(n)}</code></li>`).join('')}</ul>`);
  if (rows.length) {
    h.push('<h2>Phase waterfall</h2>');
    h.push(waterfallSvg(rows, r.plan.timeoutMs));
  }
  const hist = [
    histogramSvg('lookup', r.dns, COLORS.lookup!),
    histogramSvg('connect', r.tcp, COLORS.connect!),
    histogramSvg('tls', r.tls, COLORS.tls!),
    histogramSvg('first byte', r.http, COLORS['first byte']!),
  ].filter(Boolean);
  if (hist.length) h.push(`<h2>Latency histograms</h2><div class="charts">${hist.join('')}</div>`);
  if (r.dns) {
    const d = r.dns;
    const s = d.system;
    h.push('<h2>DNS</h2>');
    h.push(
      `<p>System resolver (${esc(s.source)}${s.via ? `, ${esc(s.via)}` : ''}): <b>${esc(s.outcome)}</b> ${esc(s.addresses.join(', '))} in ${esc(fmtMs(s.lookupMs))} ms${d.queried !== r.plan.host ? `; resolvers asked for <code>${esc(d.queried)}</code>` : ''}.</p>`,
    );
    const servers = (d.byServer as Record<string, ProbeResult> | undefined) ?? (d.attempts ? { [r.plan.servers[0] ?? d.target]: d } : {});
    if (Object.keys(servers).length) {
      h.push(
        table(
          ['resolver', 'outcomes', 'p50 ms', 'p99 ms', 'max ms'],
          Object.entries(servers).map(([k, x]) => [
            k,
            outcomesText(x),
            fmtMs(x.latencyMs?.p50),
            fmtMs(x.latencyMs?.p99),
            fmtMs(x.latencyMs?.max),
          ]),
        ),
      );
    }
  }
  if (r.addresses.length) h.push(perAddressHtml(r));
  h.push(tlsHtml(r));
  if (r.capture) {
    h.push('<h2>Packet capture</h2>');
    h.push(
      r.capture.ok
        ? `<ul id="capture">${r.capture.lines.map((l) => `<li>${esc(l)}</li>`).join('') || '<li>nothing beyond what the probes saw</li>'}</ul>`
        : `<p>Not taken: ${esc(r.capture.reason)}.</p>`,
    );
  }
  h.push(`<p class="axis"><small>conndx ${esc(m.conndxVersion)} on ${esc(m.host)}, ${esc(m.startedAt)}</small></p>`);
  h.push('</body></html>');
  return h.join('\n') + '\n';
}
