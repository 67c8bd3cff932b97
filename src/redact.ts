/**
 * `--redact` and the hidden query string: one pass over everything a run
 * prints or writes (terminal, Markdown, HTML, JSON), so the same text is
 * replaced the same way in each. With `redact`, host names, addresses, URL
 * paths and query strings become stable placeholders: the first name seen is
 * `host-1` wherever it appears, the first address `addr-1`, the first path
 * `/path-1`, a query `?query-1`, other names (a certificate's organisation)
 * `name-1`. Ports, times and figures are kept: they are what the report is for.
 */
import { isIP } from 'node:net';
import { HIDDEN_QUERY } from './core/secrets.js';

export interface ScrubOptions {
  /** Query strings (with their `?`) to show as `?…`: the URL's own, unless `--show-query`. */
  hideQueries?: string[];
  /** Replace names, addresses, paths and queries by placeholders (`--redact`). */
  redact?: boolean;
  /** Names, addresses and paths known to be private before any text is seen (the target, the SNI, the servers). */
  seed?: { names?: string[]; paths?: string[]; queries?: string[] };
}

export interface Scrubber {
  /** One text, scrubbed. */
  text(s: string): string;
  /** A copy of a JSON-like value with every string (and every object key) scrubbed. */
  value<T>(v: T): T;
  /** Adds private names (a certificate's subject, say) before the text holding them is scrubbed. */
  learn(o: { names?: string[]; paths?: string[] }): void;
  readonly redacting: boolean;
}

/** File name endings and other dotted words that are not host names. */
const NOT_A_TLD = new Set([
  'md',
  'markdown',
  'html',
  'htm',
  'pem',
  'crt',
  'cer',
  'key',
  'conf',
  'json',
  'ndjson',
  'js',
  'mjs',
  'cjs',
  'ts',
  'txt',
  'yaml',
  'yml',
  'png',
  'csv',
  'log',
  'sock',
  'pcap',
  'pcapng',
  'tmp',
  'prom',
]);

const esc = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

const IPV4 = String.raw`(?<![\w.])(?:\d{1,3}\.){3}\d{1,3}(?![\w]|\.\w)`;
const IPV6 = String.raw`(?<![\w:.])(?:[0-9a-f]{0,4}:){2,7}(?:[0-9a-f]{1,4}|(?:\d{1,3}\.){3}\d{1,3})?(?![\w:])`;
const HOST = String.raw`(?<![\w.-])(?:[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9])?\.)+[a-z](?:[a-z0-9-]{0,61}[a-z0-9])?\.?(?![\w-])`;

export function makeScrubber(o: ScrubOptions = {}): Scrubber {
  const hidden = (o.hideQueries ?? []).filter((q) => q.length > 1).sort((a, b) => b.length - a.length);
  const redact = Boolean(o.redact);
  const names = new Set<string>();
  const paths = new Set<string>();
  const queries = new Set<string>();
  const given = new Map<string, string>();
  const counts = { host: 0, addr: 0, path: 0, query: 0, name: 0 };
  let pattern: RegExp | null = null;

  const placeholder = (kind: keyof typeof counts, key: string): string => {
    const k = `${kind}\u0000${key}`;
    let p = given.get(k);
    if (!p) {
      counts[kind]++;
      p = kind === 'path' ? `/path-${counts[kind]}` : kind === 'query' ? `?query-${counts[kind]}` : `${kind}-${counts[kind]}`;
      given.set(k, p);
    }
    return p;
  };

  const learn = (x: { names?: string[]; paths?: string[]; queries?: string[] }) => {
    for (const n of x.names ?? []) {
      const v = String(n).trim().replace(/\.$/, '');
      if (v.length >= 2 && !/^\d+$/.test(v)) names.add(v);
    }
    for (const p of x.paths ?? []) if (p.length > 1 && p.startsWith('/')) paths.add(p);
    for (const q of x.queries ?? []) if (q.length > 1 && q.startsWith('?')) queries.add(q);
    pattern = null;
  };
  if (o.seed) learn(o.seed);

  const build = (): RegExp => {
    const alts: string[] = [];
    const byLength = (a: string, b: string) => b.length - a.length;
    if (queries.size) alts.push(`(?<q>${[...queries].sort(byLength).map(esc).join('|')})`);
    if (names.size) alts.push(`(?<n>(?<![\\w.-])(?:${[...names].sort(byLength).map(esc).join('|')})(?![\\w-]))`);
    // A path ends where a URL path would: at a space, a quote, ?, # or the end.
    if (paths.size) alts.push(`(?<p>(?:${[...paths].sort(byLength).map(esc).join('|')})(?![\\w\\-.~%/]))`);
    // Any query string of a URL, once the known ones are taken.
    alts.push(String.raw`(?<uq>(?<=://[^\s?#'"]*)\?[^\s'"#]+)`);
    alts.push(`(?<v4>${IPV4})`, `(?<v6>${IPV6})`, `(?<h>${HOST})`);
    return new RegExp(alts.join('|'), 'gi');
  };

  const redactText = (s: string): string => {
    pattern ??= build();
    return s.replace(pattern, (m: string, ...args: unknown[]) => {
      const g = args[args.length - 1] as Record<string, string | undefined>;
      if (g.q !== undefined || g.uq !== undefined) return m === HIDDEN_QUERY ? m : placeholder('query', m);
      if (g.p !== undefined) return placeholder('path', m);
      if (g.v4 !== undefined) return isIP(m) === 4 ? placeholder('addr', m) : m;
      if (g.v6 !== undefined) return isIP(m) === 6 ? placeholder('addr', m.toLowerCase()) : m;
      const dot = m.endsWith('.') ? '.' : '';
      const bare = dot ? m.slice(0, -1) : m;
      if (g.n !== undefined) {
        if (isIP(bare)) return placeholder('addr', bare.toLowerCase()) + dot;
        return (/^[a-z0-9_.-]+$/i.test(bare) ? placeholder('host', bare.toLowerCase()) : placeholder('name', bare)) + dot;
      }
      // A generic dotted word: a host name unless its last label is a file ending or a single letter (e.g.).
      const tld = bare.slice(bare.lastIndexOf('.') + 1).toLowerCase();
      if (tld.length < 2 || NOT_A_TLD.has(tld)) return m;
      return placeholder('host', bare.toLowerCase()) + dot;
    });
  };

  const text = (s: string): string => {
    let t = String(s);
    for (const q of hidden) t = t.split(q).join(HIDDEN_QUERY);
    return redact ? redactText(t) : t;
  };

  const value = <T>(v: T): T => {
    if (typeof v === 'string') return text(v) as T;
    if (Array.isArray(v)) return v.map((x) => value(x)) as T;
    if (v && typeof v === 'object') {
      const out: Record<string, unknown> = {};
      for (const [k, x] of Object.entries(v as Record<string, unknown>)) out[text(k)] = value(x);
      return out as T;
    }
    return v;
  };

  return { text, value, learn, redacting: redact };
}

/** The values of a distinguished name ("CN=api.example.com, O=Example Ltd" → api.example.com, Example Ltd). */
export function dnValues(dn: string): string[] {
  return String(dn)
    .split(/[,\n/+]\s*(?=[A-Za-z.0-9]+=)/)
    .map((part) => part.replace(/^\s*[A-Za-z.0-9]+=/, '').trim())
    .filter(Boolean);
}
