import { isIP } from 'node:net';
import { ConndxError } from './errors.js';

const DURATION_UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/** Node's timers hold at most 2^31-1 ms (about 24.8 days); a longer one fires after 1 ms. No duration may exceed it. */
export const MAX_TIMER_MS = 2 ** 31 - 1;

/** Documented maxima of the duration flags (--help and docs say them). */
export const DURATION_MAX_MS = {
  timeout: 10 * 60_000,
  duration: 24 * 3_600_000,
  hold: 3_600_000,
  threshold: 10 * 60_000,
} as const;

function fmtMax(ms: number): string {
  return ms % 3_600_000 === 0
    ? `${ms / 3_600_000}h`
    : ms % 60_000 === 0
      ? `${ms / 60_000}m`
      : ms % 1000 === 0
        ? `${ms / 1000}s`
        : `${ms}ms`;
}

/**
 * "250ms", "2s", "1.5s", "1m", "1h" → milliseconds. A bare number is seconds.
 * Past `max` (never past MAX_TIMER_MS) or below `min` is bad input.
 */
export function parseDuration(text: string, flag = 'duration', range: { min?: number; max?: number } = {}): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)?\s*$/.exec(String(text));
  if (!m) {
    throw new ConndxError('CONNDX_BAD_DURATION', `bad ${flag} "${text}": use a number with a unit, e.g. 250ms, 2s, 1m`);
  }
  const ms = Number(m[1]) * DURATION_UNITS[m[2] ?? 's']!;
  if (!Number.isFinite(ms)) throw new ConndxError('CONNDX_BAD_DURATION', `bad ${flag} "${text}"`);
  const max = Math.min(range.max ?? MAX_TIMER_MS, MAX_TIMER_MS);
  if (ms > max) throw new ConndxError('CONNDX_BAD_DURATION', `bad ${flag} "${text}": at most ${fmtMax(max)}`);
  if (range.min !== undefined && ms < range.min) {
    throw new ConndxError(
      'CONNDX_BAD_DURATION',
      `bad ${flag} "${text}": ${range.min === 1 ? 'must be more than 0' : `at least ${fmtMax(range.min)}`}`,
    );
  }
  return ms;
}

export function parsePositiveInt(text: string, flag: string, { min = 1, max = Number.MAX_SAFE_INTEGER } = {}): number {
  if (!/^\s*\d+\s*$/.test(String(text))) {
    throw new ConndxError('CONNDX_BAD_ARGUMENT', `bad ${flag} "${text}": expected a whole number`);
  }
  const n = Number(text);
  if (n < min || n > max) {
    throw new ConndxError('CONNDX_BAD_ARGUMENT', `bad ${flag} "${text}": expected a whole number from ${min} to ${max}`);
  }
  return n;
}

export function parsePositiveNumber(text: string, flag: string): number {
  const n = Number(text);
  if (!/^\s*\d+(\.\d+)?\s*$/.test(String(text)) || !(n > 0)) {
    throw new ConndxError('CONNDX_BAD_ARGUMENT', `bad ${flag} "${text}": expected a positive number`);
  }
  return n;
}

export interface HostPort {
  /** As the user wrote it. */
  raw: string;
  /** Host name or address literal, without IPv6 brackets. */
  host: string;
  port: number;
  /** 4 or 6 when host is an address literal, 0 for a name. */
  family: 0 | 4 | 6;
}

// RFC 1123 host names, with an optional trailing dot; underscores allowed as
// they appear in SRV-style names.
const HOSTNAME =
  /^(?=.{1,253}\.?$)([A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?)(\.[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?)*\.?$/;

export function isValidHostName(host: string): boolean {
  return HOSTNAME.test(host);
}

function parsePort(text: string, raw: string): number {
  if (!/^\d{1,5}$/.test(text) || Number(text) < 1 || Number(text) > 65535) {
    throw new ConndxError('CONNDX_BAD_TARGET', `bad address "${raw}": port must be 1-65535`);
  }
  return Number(text);
}

/**
 * "host:port", "1.2.3.4:53", "[::1]:853", or with `defaultPort` also "host",
 * "1.2.3.4" and a bare IPv6 literal "::1".
 */
export function parseHostPort(raw: string, defaultPort?: number): HostPort {
  const text = String(raw).trim();
  let host: string;
  let portText: string | undefined;
  if (text.startsWith('[')) {
    const end = text.indexOf(']');
    if (end < 0) throw new ConndxError('CONNDX_BAD_TARGET', `bad address "${raw}": missing "]"`);
    host = text.slice(1, end);
    const rest = text.slice(end + 1);
    if (rest !== '') {
      if (!rest.startsWith(':')) throw new ConndxError('CONNDX_BAD_TARGET', `bad address "${raw}": expected ":port" after "]"`);
      portText = rest.slice(1);
    }
    if (isIP(host) !== 6) throw new ConndxError('CONNDX_BAD_TARGET', `bad address "${raw}": "${host}" is not an IPv6 address`);
  } else if (isIP(text) === 6) {
    // `::1:80` is an IPv6 address, and also how one might write ::1 port 80:
    // conndx does not guess, it asks for the bracketed form.
    const colon = text.lastIndexOf(':');
    const last = text.slice(colon + 1);
    const head = text.slice(0, colon);
    if (/^\d{1,5}$/.test(last) && Number(last) <= 65535 && isIP(head) === 6) {
      throw new ConndxError(
        'CONNDX_BAD_TARGET',
        `bad address "${raw}": an IPv6 address with a port is written [addr]:port; did you mean [${head}]:${last}?`,
      );
    }
    host = text;
  } else {
    const colon = text.lastIndexOf(':');
    if (colon >= 0) {
      host = text.slice(0, colon);
      portText = text.slice(colon + 1);
      if (host.includes(':')) {
        const hint = isIP(host) === 6 ? `; did you mean [${host}]:${portText}?` : '';
        throw new ConndxError('CONNDX_BAD_TARGET', `bad address "${raw}": write IPv6 with a port as [addr]:port${hint}`);
      }
    } else {
      host = text;
    }
  }
  let port: number;
  if (portText === undefined) {
    if (defaultPort === undefined) throw new ConndxError('CONNDX_BAD_TARGET', `bad address "${raw}": expected host:port`);
    port = defaultPort;
  } else {
    port = parsePort(portText, raw);
  }
  const family = isIP(host) as 0 | 4 | 6;
  // All-numeric dotted names would pass as host names; they are meant as IPv4 (RFC 1123 §2.1).
  if (family === 0 && /^[\d.]+$/.test(host))
    throw new ConndxError('CONNDX_BAD_TARGET', `bad address "${raw}": "${host}" is not an IPv4 address`);
  if (family === 0 && !isValidHostName(host)) {
    throw new ConndxError('CONNDX_BAD_TARGET', `bad address "${raw}": "${host}" is not a host name or address`);
  }
  return { raw, host, port, family };
}

export function formatHostPort(host: string, port: number): string {
  return isIP(host) === 6 ? `[${host}]:${port}` : `${host}:${port}`;
}

/** Backslash escapes in --send text: \r \n \t \0 \\ \xHH. */
export function unescapeText(text: string): Buffer {
  const out: number[] = [];
  const src = Buffer.from(text, 'utf8');
  for (let i = 0; i < src.length; i++) {
    const c = src[i]!;
    if (c !== 0x5c || i + 1 >= src.length) {
      out.push(c);
      continue;
    }
    const n = String.fromCharCode(src[++i]!);
    if (n === 'r') out.push(13);
    else if (n === 'n') out.push(10);
    else if (n === 't') out.push(9);
    else if (n === '0') out.push(0);
    else if (n === '\\') out.push(0x5c);
    else if (n === 'x' && i + 2 < src.length + 0 && /^[0-9a-fA-F]{2}$/.test(src.subarray(i + 1, i + 3).toString())) {
      out.push(parseInt(src.subarray(i + 1, i + 3).toString(), 16));
      i += 2;
    } else {
      out.push(0x5c, src[i]!);
    }
  }
  return Buffer.from(out);
}

/**
 * `--expect-status`: "200-299,301", "2xx,304" → inclusive ranges of HTTP
 * statuses (100-599). Anything else is bad input.
 */
export function parseStatusRanges(text: string, flag = '--expect-status'): [number, number][] {
  const out: [number, number][] = [];
  for (const part of String(text)
    .split(',')
    .map((p) => p.trim())) {
    const m = /^([1-5])xx$/i.exec(part) ?? /^(\d{3})(?:-(\d{3}))?$/.exec(part);
    const bad = () => new ConndxError('CONNDX_BAD_ARGUMENT', `bad ${flag} "${text}": give statuses or ranges such as 200-299,301 or 2xx`);
    if (!m) throw bad();
    const range: [number, number] = part.toLowerCase().endsWith('xx')
      ? [Number(m[1]) * 100, Number(m[1]) * 100 + 99]
      : [Number(m[1]), Number(m[2] ?? m[1])];
    if (range[0] < 100 || range[1] > 599 || range[0] > range[1]) throw bad();
    out.push(range);
  }
  return out;
}
