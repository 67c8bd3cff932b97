import { Chalk, type ChalkInstance } from 'chalk';
import { fmtMs } from '../core/format.js';

export { fmtMs };

/** Colour only on a TTY and never with NO_COLOR set (https://no-color.org). */
export function makeChalk(isTTY: boolean, env: Record<string, string | undefined>): ChalkInstance {
  const off = !isTTY || (env.NO_COLOR !== undefined && env.NO_COLOR !== '') || env.TERM === 'dumb';
  return new Chalk({ level: off ? 0 : 1 });
}

/** A duration with its unit: "412 ms", "3.20 s", "2m05s". */
export function fmtElapsed(ms: number): string {
  if (!Number.isFinite(ms)) return '-';
  if (ms < 1000) return `${fmtMs(ms)} ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(2)} s`;
  const m = Math.floor(ms / 60_000);
  return `${m}m${String(Math.round((ms - m * 60_000) / 1000)).padStart(2, '0')}s`;
}

export function fmtPct(part: number, whole: number): string {
  if (whole === 0) return '-';
  const p = (100 * part) / whole;
  return p === 100 || p === 0 ? `${p.toFixed(0)}%` : `${p.toFixed(1)}%`;
}

/** A plain text table: columns padded, numbers right-aligned. */
export function table(rows: (string | number)[][], opts: { header?: boolean; indent?: string } = {}): string {
  if (rows.length === 0) return '';
  const visible = (s: string) => s.replace(/\x1b\[[0-9;]*m/g, '').length;
  const cells = rows.map((r) => r.map((c) => String(c)));
  const widths: number[] = [];
  for (const r of cells)
    r.forEach((c, i) => {
      widths[i] = Math.max(widths[i] ?? 0, visible(c));
    });
  const numeric = widths.map((_, i) =>
    cells.slice(opts.header ? 1 : 0).every((r) => r[i] === undefined || /^[-\d.,%<>~ ]+(ms|s)?$/.test(r[i]!)),
  );
  const lines = cells.map(
    (r) =>
      (opts.indent ?? '') +
      r
        .map((c, i) => {
          const pad = ' '.repeat(widths[i]! - visible(c));
          return numeric[i] ? pad + c : c + (i === r.length - 1 ? '' : pad);
        })
        .join('  ')
        .trimEnd(),
  );
  return lines.join('\n');
}

export function bar(count: number, max: number, width = 30): string {
  if (max <= 0) return '';
  const n = Math.round((count / max) * width);
  return '#'.repeat(count > 0 ? Math.max(1, n) : 0);
}

/** "89 days left", "expires today", "expired 30 days ago": never a negative count of days left. */
export function daysLeftText(days: unknown): string {
  const d = Number(days);
  if (!Number.isFinite(d)) return 'days left unknown';
  if (d < 0) return `expired ${-d} day${d === -1 ? '' : 's'} ago`;
  if (d === 0) return 'expires today';
  return `${d} day${d === 1 ? '' : 's'} left`;
}
