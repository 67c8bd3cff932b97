/**
 * What never leaves conndx as it was typed: the credentials of a URL
 * (`user:password@`), the bytes of `--send`, and (unless `--show-query`) the
 * query string of a URL. `meta.command` of every result, the reports and
 * the error lines go through these.
 */

/** The query string as shown without `--show-query`. */
export const HIDDEN_QUERY = '?…';

/** `user:password@` of every URL in the text, as `…@`. */
export function hideUrlCredentials(text: string): string {
  return String(text).replace(/([a-z][a-z0-9+.-]*:\/\/)[^@/?#\s]*@/gi, '$1…@');
}

/** The query string of every URL in the text as `?…` (the fragment goes too: it follows the query). */
export function hideUrlQuery(text: string): string {
  return String(text).replace(/([a-z][a-z0-9+.-]*:\/\/[^\s?#'"]*)\?[^\s'"]*/gi, `$1${HIDDEN_QUERY}`);
}

/** Both: what a URL typed on the command line may show of itself. */
export function safeUrlText(text: string, o: { showQuery?: boolean } = {}): string {
  const t = hideUrlCredentials(text);
  return o.showQuery ? t : hideUrlQuery(t);
}

/** Options whose value is data to send: shown as its size, never its bytes (`@file` names a file, kept). */
const PAYLOAD_OPTIONS = new Set(['--send']);

/**
 * The command line as a result may record it: `--send DATA` as
 * `--send '<N bytes>'`, URL credentials as `…@`, query strings as `?…`
 * unless `--show-query` is on the command line.
 */
export function scrubArgv(argv: readonly string[]): string[] {
  const showQuery = argv.includes('--show-query');
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const eq = /^(--[a-z][a-z0-9.-]*)=(.*)$/s.exec(a);
    if (eq && PAYLOAD_OPTIONS.has(eq[1]!)) {
      out.push(`${eq[1]}=${payloadText(eq[2]!)}`);
      continue;
    }
    if (PAYLOAD_OPTIONS.has(a) && i + 1 < argv.length) {
      out.push(a, payloadText(argv[i + 1]!));
      i++;
      continue;
    }
    out.push(safeUrlText(a, { showQuery }));
  }
  return out;
}

function payloadText(v: string): string {
  if (v.startsWith('@')) return v;
  return `<${Buffer.byteLength(v)} bytes>`;
}
