/** Number formats every floor shares (the probes' own attempt lines, the report, the CLI). */

/** A latency figure in ms, 3 significant digits (no unit: columns say "ms"). */
export function fmtMs(ms: number | null | undefined): string {
  if (ms === null || ms === undefined || !Number.isFinite(ms)) return '-';
  if (ms >= 100) return ms.toFixed(0);
  if (ms >= 10) return ms.toFixed(1);
  if (ms >= 1) return ms.toFixed(2);
  return ms.toFixed(3);
}
