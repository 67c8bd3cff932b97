/** Inclusive status ranges, as `--expect-status 200-299,301` gives them. */
export type StatusRanges = [number, number][];

/**
 * Is a status what was expected? With ranges: inside one of them (as
 * blackbox_exporter's valid_status_codes). Without: below 400, as `curl -f`
 * counts success (a 404 on a health URL is no healthy answer). HTTP/1.1 and
 * HTTP/2 answers are judged alike.
 */
export function statusExpected(status: number, ranges?: StatusRanges): boolean {
  if (ranges?.length) return ranges.some(([lo, hi]) => status >= lo && status <= hi);
  return status < 400;
}
