/**
 * `--filter`: a small subset of tcpdump's syntax plus a time window.
 *   host A | src host A | dst host A | port N | src port N | dst port N
 *   tcp | udp | after T | before T        (T: Unix seconds or ISO 8601)
 * joined with and / or / not and parentheses ("&&", "||", "!" also work).
 */
import { isIP } from 'node:net';

export interface PacketView {
  buf: Buffer;
  v6: boolean;
  srcOff: number;
  dstOff: number;
  proto: number;
  srcPort: number;
  dstPort: number;
  ts: number;
}

export type PacketFilter = (p: PacketView) => boolean;

export type FilterParse = { ok: true; filter: PacketFilter; usesTime: boolean } | { ok: false; error: string };

function addrBytes(text: string): Buffer | null {
  const kind = isIP(text);
  if (kind === 4) return Buffer.from(text.split('.').map(Number));
  if (kind === 6) {
    let [head, tail] = text.includes('::') ? (text.split('::') as [string, string]) : [text, ''];
    let tailParts = tail ? tail.split(':') : [];
    let headParts = head ? head.split(':') : [];
    const v4 = (parts: string[]) => {
      const last = parts[parts.length - 1];
      if (last && last.includes('.')) {
        const b = last.split('.').map(Number);
        parts.splice(parts.length - 1, 1, ((b[0]! << 8) | b[1]!).toString(16), ((b[2]! << 8) | b[3]!).toString(16));
      }
    };
    if (tailParts.length) v4(tailParts);
    else v4(headParts);
    const fill = 8 - headParts.length - tailParts.length;
    const groups = [...headParts, ...Array(text.includes('::') ? fill : 0).fill('0'), ...tailParts];
    const out = Buffer.alloc(16);
    groups.forEach((g, i) => out.writeUInt16BE(parseInt(g, 16) || 0, i * 2));
    head = '';
    tail = '';
    headParts = [];
    tailParts = [];
    return out;
  }
  return null;
}

function matchAddr(p: PacketView, off: number, want: Buffer): boolean {
  if ((want.length === 16) !== p.v6) return false;
  return p.buf.compare(want, 0, want.length, off, off + want.length) === 0;
}

function parseTime(t: string): number | null {
  if (/^\d+(\.\d+)?$/.test(t)) return Number(t);
  const ms = Date.parse(t);
  return Number.isNaN(ms) ? null : ms / 1000;
}

export function parseFilter(expr: string): FilterParse {
  const tokens = expr
    .replace(/([()!])/g, ' $1 ')
    .replace(/&&/g, ' and ')
    .replace(/\|\|/g, ' or ')
    .trim()
    .split(/\s+/)
    .filter(Boolean);
  let i = 0;
  let usesTime = false;
  const peek = () => tokens[i];
  const fail = (msg: string): never => {
    throw new Error(msg);
  };

  function primary(): PacketFilter {
    const t = tokens[i++];
    if (t === undefined) return fail('filter ends too early');
    if (t === '(') {
      const e = orExpr();
      if (tokens[i++] !== ')') fail('missing ")" in filter');
      return e;
    }
    if (t === 'not' || t === '!') {
      const e = primary();
      return (p) => !e(p);
    }
    if (t === 'tcp') return (p) => p.proto === 6;
    if (t === 'udp') return (p) => p.proto === 17;
    if (t === 'after' || t === 'before') {
      const v = tokens[i++];
      const ts = v === undefined ? null : parseTime(v);
      if (ts === null) fail(`"${t}" needs a time (Unix seconds or ISO 8601), got ${v === undefined ? 'nothing' : `"${v}"`}`);
      usesTime = true;
      return t === 'after' ? (p) => p.ts >= ts! : (p) => p.ts < ts!;
    }
    let dir: 'src' | 'dst' | null = null;
    let kw = t;
    if (t === 'src' || t === 'dst') {
      dir = t;
      kw = tokens[i++] ?? '';
    }
    if (kw === 'host') {
      const v = tokens[i++] ?? '';
      const b = addrBytes(v);
      if (!b) fail(`"host" needs an IPv4 or IPv6 address, got "${v}"`);
      if (dir === 'src') return (p) => matchAddr(p, p.srcOff, b!);
      if (dir === 'dst') return (p) => matchAddr(p, p.dstOff, b!);
      return (p) => matchAddr(p, p.srcOff, b!) || matchAddr(p, p.dstOff, b!);
    }
    if (kw === 'port') {
      const v = tokens[i++] ?? '';
      const n = Number(v);
      if (!/^\d+$/.test(v) || n > 65535) fail(`"port" needs a number 0-65535, got "${v}"`);
      if (dir === 'src') return (p) => p.srcPort === n;
      if (dir === 'dst') return (p) => p.dstPort === n;
      return (p) => p.srcPort === n || p.dstPort === n;
    }
    return fail(`unknown filter term "${kw}" (known: host, port, src, dst, tcp, udp, after, before, and, or, not)`);
  }
  function andExpr(): PacketFilter {
    let left = primary();
    while (peek() === 'and' || (peek() !== undefined && peek() !== 'or' && peek() !== ')')) {
      if (peek() === 'and') i++;
      const l = left,
        r = primary();
      left = (p) => l(p) && r(p);
    }
    return left;
  }
  function orExpr(): PacketFilter {
    let left = andExpr();
    while (peek() === 'or') {
      i++;
      const l = left,
        r = andExpr();
      left = (p) => l(p) || r(p);
    }
    return left;
  }
  try {
    if (tokens.length === 0) return { ok: false, error: 'empty filter' };
    const f = orExpr();
    if (i < tokens.length) return { ok: false, error: `unexpected "${tokens[i]}" in filter` };
    return { ok: true, filter: f, usesTime };
  } catch (e) {
    return { ok: false, error: (e as Error).message };
  }
}
