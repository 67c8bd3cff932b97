/**
 * Per-record lists kept for a report (`--flows`, `--attempts`) are bounded: the
 * first MAX_ROWS records by start time are kept, the rest only counted (every
 * figure of the summary still covers them). A row costs a few hundred bytes
 * and more again once written out, so 1,000,000 of them would not fit the
 * 200 MB a capture analysis stays within.
 */
export const MAX_ROWS = 20_000;

export interface RowKeeper<T extends { start: number }> {
  /** Whether a row starting at `start` would be kept: when not, it need not be built (it is counted by skip()). */
  wants(start: number): boolean;
  push(row: T): void;
  /** A row not built because wants() said no. */
  skip(): void;
  /** Rows pushed, kept or not. */
  total(): number;
  /** The kept rows in order of start (ties in the order pushed). */
  finish(): T[];
}

const byStart = (a: { start: number }, b: { start: number }) => a.start - b.start;

export function createRowKeeper<T extends { start: number }>(maxRows = MAX_ROWS): RowKeeper<T> {
  const max = Math.max(1, Math.floor(maxRows));
  let rows: T[] = [];
  let total = 0;
  // Sorting (stable) and cutting back to `max` whenever a quarter more has come keeps the
  // earliest rows at an amortised O(log n) a row.
  const room = max + Math.max(1, Math.ceil(max / 4));
  // Once cut, a row starting at or after the last kept one would be cut again (ties keep the earlier pushed).
  let bound = Infinity;
  return {
    wants: (start) => start < bound,
    push(row) {
      total++;
      if (!(row.start < bound)) return;
      rows.push(row);
      if (rows.length >= room) {
        rows.sort(byStart);
        rows.length = max;
        bound = rows[max - 1]!.start;
      }
    },
    skip() {
      total++;
    },
    total: () => total,
    finish() {
      rows.sort(byStart);
      if (rows.length > max) rows.length = max;
      const out = rows;
      rows = [];
      return out;
    },
  };
}

/** The warning for a list cut to its first rows, or null when nothing was left out. */
export function rowsWarning(what: string, flag: string, kept: number, total: number): string | null {
  if (total <= kept) return null;
  const n = (x: number) => x.toLocaleString('en');
  return `${n(total)} ${what}: ${flag} lists the first ${n(kept)} by start time, ${n(total - kept)} more are left out of the list (every count and the summary cover all of them; --filter narrows the capture to list others)`;
}
