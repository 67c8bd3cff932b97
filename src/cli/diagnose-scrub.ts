import { hostname } from 'node:os';
import type { DiagnoseResult } from '../diagnose/chain.js';
import type { DiagnoseTarget } from '../diagnose/target.js';
import { dnValues, makeScrubber } from '../redact.js';

/** The query string of a path ("/healthz?token=…" → "?token=…"), or null. */
function queryOf(path: string | null | undefined): string | null {
  if (!path) return null;
  const i = path.indexOf('?');
  return i < 0 ? null : path.slice(i);
}

const pathOnly = (path: string | null | undefined) => (path ? path.replace(/[?#].*$/s, '') : null);

/** Certificate subjects, issuers and names anywhere in a result: private names the text patterns might not see as names. */
function certificateNames(v: unknown, out: string[] = []): string[] {
  if (Array.isArray(v)) for (const x of v) certificateNames(x, out);
  else if (v && typeof v === 'object') {
    for (const [k, x] of Object.entries(v as Record<string, unknown>)) {
      if ((k === 'subject' || k === 'issuer') && typeof x === 'string') out.push(...dnValues(x));
      else if (k === 'sans' && Array.isArray(x)) out.push(...x.map((s) => String(s).replace(/^[A-Za-z ]+:/, '')));
      else certificateNames(x, out);
    }
  }
  return out;
}

/**
 * What `diagnose` shows of a run: the URL's query as `?…` unless
 * `--show-query`, and with `--redact` every name, address, path and query
 * as a placeholder, the same in the terminal, the JSON and the reports.
 */
export function diagnoseScrubber(o: {
  target: DiagnoseTarget;
  httpPath?: string;
  sni?: unknown;
  servers: string[];
  showQuery: boolean;
  redact: boolean;
}) {
  // The query as typed (target.raw) and as the URL parser normalised it (target.path): either may be shown.
  const typed = queryOf(o.target.scheme ? o.target.raw.replace(/#.*$/s, '') : null);
  const queries = [...new Set([queryOf(o.target.path), typed, queryOf(o.httpPath)].filter((q): q is string => q !== null))];
  const s = makeScrubber({
    hideQueries: o.showQuery ? [] : queries,
    redact: o.redact,
    seed: {
      names: [o.target.host, ...(o.sni === undefined ? [] : [String(o.sni)]), ...o.servers, hostname()],
      paths: [pathOnly(o.target.path), pathOnly(o.httpPath)].filter((p): p is string => p !== null),
      queries: o.showQuery ? queries : [],
    },
  });
  return {
    text: (line: string) => s.text(line),
    result(r: DiagnoseResult): DiagnoseResult {
      if (!s.redacting && !queries.length) return r;
      if (s.redacting) s.learn({ names: [r.plan.host, r.dns?.queried ?? '', ...(r.dns?.search.candidates ?? []), ...certificateNames(r)] });
      return { ...s.value(r), ...(s.redacting ? { redacted: true } : {}) };
    },
  };
}
