import { isIP } from 'node:net';

/** The parts of resolv.conf(5) that decide what a short name becomes and who is asked. */
export interface ResolvConf {
  /** `nameserver` lines; conndx also reads `addr:port` and `[addr]:port` (glibc does not). */
  nameservers: { address: string; port: number; key: string }[];
  /** The last `search` (or `domain`) line wins, as in glibc. */
  search: string[];
  ndots: number;
}

export function parseResolvConf(text: string): ResolvConf {
  const out: ResolvConf = { nameservers: [], search: [], ndots: 1 };
  for (const raw of text.split('\n')) {
    const line = raw.replace(/[#;].*$/, '').trim();
    if (!line) continue;
    const [kw, ...args] = line.split(/\s+/);
    if (kw === 'nameserver' && args[0]) {
      const ns = parseNameserver(args[0]);
      if (ns) out.nameservers.push(ns);
    } else if (kw === 'search' || kw === 'domain') {
      out.search = args.map((d) => d.replace(/\.$/, '')).filter(Boolean);
    } else if (kw === 'options') {
      for (const o of args) {
        const m = /^ndots:(\d+)$/.exec(o);
        if (m) out.ndots = Math.min(15, Number(m[1])); // resolv.conf(5): capped at 15
      }
    }
  }
  return out;
}

function parseNameserver(text: string): ResolvConf['nameservers'][number] | null {
  const bare = text.replace(/%.*$/, '');
  if (isIP(bare)) return { address: bare, port: 53, key: bare };
  const m = /^\[([^\]]+)\]:(\d{1,5})$/.exec(text) ?? /^([\d.]+):(\d{1,5})$/.exec(text);
  if (m && isIP(m[1]!) && Number(m[2]) > 0 && Number(m[2]) < 65536) return { address: m[1]!, port: Number(m[2]), key: text };
  return null;
}

/** hosts(5): address, canonical name, aliases. Names are matched case-insensitively. */
export function parseHosts(text: string): Map<string, string[]> {
  const map = new Map<string, string[]>();
  for (const raw of text.split('\n')) {
    const line = raw.replace(/#.*$/, '').trim();
    if (!line) continue;
    const [addr, ...names] = line.split(/\s+/);
    if (!addr || !isIP(addr.replace(/%.*$/, ''))) continue;
    for (const n of names) {
      const k = n.toLowerCase().replace(/\.$/, '');
      const list = map.get(k) ?? [];
      if (!list.includes(addr)) list.push(addr);
      map.set(k, list);
    }
  }
  return map;
}

/**
 * The names the stub resolver tries, in order (resolv.conf(5), "ndots"): a
 * name with at least `ndots` dots is tried as it is first, then with each
 * search domain; a name with fewer is tried with the search domains first. A
 * trailing dot means the name is absolute: no search at all.
 */
export function searchCandidates(name: string, conf: Pick<ResolvConf, 'search' | 'ndots'>): string[] {
  if (name.endsWith('.')) return [name.slice(0, -1)];
  const dots = (name.match(/\./g) ?? []).length;
  const searched = conf.search.map((d) => `${name}.${d}`);
  return dots >= conf.ndots ? [name, ...searched] : [...searched, name];
}
