/**
 * Attempts: a capture read the way an on-call engineer reads it. Each TCP
 * connection attempt is joined to the DNS answer that gave its server address
 * (same client address, answer before the first SYN, the latest such answer
 * within JOIN_WINDOW_S), and carries its connect, TLS and application facts
 * and one verdict phase. Lookups no connection followed are counted apart, by
 * why (their rcode, no address, unanswered, or not used).
 *
 * Memory: the answers that can still be joined are bounded by the window and
 * by MAX_JOINABLE (the flow table's 20,000-record idea); rows are kept only
 * when asked for, like `--flows`, and then at most MAX_ROWS of them.
 */
import { createRowKeeper, MAX_ROWS, type RowKeeper } from './rows.js';

/** An answer older than this before the SYN is not the one the client used. */
export const JOIN_WINDOW_S = 60;
/** Most client/address pairs held for joining at once; the oldest is let go first. */
export const MAX_JOINABLE = 20_000;

export interface Lookup {
  client: string;
  name: string;
  qtype: number;
  queryTs: number;
  /** -1 for a query never answered. */
  answerTs: number;
  rcode: string | null;
  addrs: string[];
  used: boolean;
  /** An unanswered query answered by an ICMP unreachable instead: its name. */
  icmp?: string;
}

export type AttemptPhase = 'ok' | 'tcp' | 'starttls' | 'tls' | 'app';

export interface AttemptRow {
  start: number;
  client: string;
  server: string;
  /** The name looked up, when a DNS answer gave this server address. */
  name: string | null;
  lookupMs: number | null;
  rcode: string | null;
  /** First SYN to SYN-ACK (SYN retransmission waits included); null when never answered. */
  connectMs: number | null;
  synRetransmits: number;
  tls: null | { outcome: string; version: string | null; sni: string | null; starttls: string | null };
  /** TCP payload bytes each way (TLS records included). */
  appBytes: { sent: number; received: number };
  phase: AttemptPhase;
  outcome: string;
  /** ICMP code or PMTU sizes behind the outcome, in words. */
  cause: string | null;
}

export interface AttemptsSummary {
  attempts: number;
  withLookup: number;
  connected: number;
  tlsCompleted: number;
  ok: number;
  byPhase: Record<string, number>;
  outcomes: Record<string, number>;
  lookups: { total: number; ledToConnection: number; withoutConnection: number; withoutConnectionBy: Record<string, number> };
  lookupMs: { p50: number; p90: number; p99: number; max: number } | null;
  summary: string;
  rows?: AttemptRow[];
  /** With rows: attempts left out of `rows` (only the first MAX_ROWS by start are listed). */
  rowsOmitted?: number;
  /** With rows: the DNS queries seen, one row each, in query order (the first MAX_ROWS). */
  queries?: QueryRow[];
  /** With rows: queries left out of `queries`. */
  queriesOmitted?: number;
}

/** One DNS query and its answer as the capture saw them (`--attempts`). */
export interface QueryRow {
  start: number;
  /** The asker's address and port, the resolver's. */
  client: string;
  server: string;
  id: number;
  name: string;
  qtype: string;
  transport: 'udp' | 'tcp';
  /** null: never answered. */
  rcode: string | null;
  /** Query to answer on the wire, null when never answered. */
  lookupMs: number | null;
}

export interface AttemptJoin {
  /** A DNS query answered (or given up on: answerTs -1). */
  lookup(l: Lookup): void;
  /** The lookup that gave `server` to `client` before `ts`, or null; marks it used. */
  join(client: string, server: string, ts: number): Lookup | null;
  /** Forget lookups that can no longer be joined (network time `now`). */
  sweep(now: number): void;
  add(row: AttemptRow): void;
  /** An attempt counted like add(), for a row not listed (wantsRow() said no): no row is built. */
  count(phase: AttemptPhase, outcome: string, cause: string | null, withLookup: boolean, connected: boolean, tlsOk: boolean): void;
  /** Whether a row starting at `start` would be listed (rows kept, and among the first MAX_ROWS). */
  wantsRow(start: number): boolean;
  /** `lookupMs`: the response times of every answered lookup (the analysis has them already). */
  finish(lookupMs: AttemptsSummary['lookupMs']): AttemptsSummary;
}

function inc(m: Record<string, number>, k: string): void {
  m[k] = (m[k] ?? 0) + 1;
}

export function createAttemptJoin(
  opts: { keepRows?: boolean; windowS?: number; maxJoinable?: number; maxRows?: number } = {},
): AttemptJoin {
  const windowS = opts.windowS ?? JOIN_WINDOW_S;
  const maxJoinable = opts.maxJoinable ?? MAX_JOINABLE;
  /** client|address → the latest answers giving it (newest last, at most 4). */
  const byPair = new Map<string, Lookup[]>();
  /** client|name → when an attempt last used an answer for it (A used covers the AAAA asked alongside). */
  const nameUsed = new Map<string, number>();
  /** Answers still joinable, in answer order. */
  const open: Lookup[] = [];
  let openHead = 0;
  const rows: RowKeeper<AttemptRow> | undefined = opts.keepRows ? createRowKeeper<AttemptRow>(opts.maxRows ?? MAX_ROWS) : undefined;
  const s: AttemptsSummary = {
    attempts: 0,
    withLookup: 0,
    connected: 0,
    tlsCompleted: 0,
    ok: 0,
    byPhase: {},
    outcomes: {},
    lookups: { total: 0, ledToConnection: 0, withoutConnection: 0, withoutConnectionBy: {} },
    lookupMs: null,
    summary: '',
  };

  function settle(l: Lookup): void {
    if (l.used) {
      s.lookups.ledToConnection++;
      return;
    }
    const usedAt = nameUsed.get(`${l.client}|${l.name}`);
    if (usedAt !== undefined && Math.abs(usedAt - l.queryTs) <= windowS) {
      s.lookups.ledToConnection++;
      return;
    }
    s.lookups.withoutConnection++;
    const why =
      l.answerTs < 0
        ? l.icmp
          ? `icmp:${l.icmp}`
          : 'unanswered'
        : l.rcode !== 'NOERROR'
          ? (l.rcode ?? 'unanswered')
          : l.addrs.length === 0
            ? 'no-address'
            : 'not-used';
    inc(s.lookups.withoutConnectionBy, why);
  }

  function tally(
    phase: AttemptPhase,
    outcome: string,
    cause: string | null,
    withLookup: boolean,
    connected: boolean,
    tlsOk: boolean,
  ): void {
    s.attempts++;
    if (withLookup) s.withLookup++;
    if (connected) s.connected++;
    if (tlsOk) s.tlsCompleted++;
    if (phase === 'ok') s.ok++;
    inc(s.byPhase, phase);
    inc(s.outcomes, phase === 'ok' ? 'ok' : `${phase}:${outcome}${cause && outcome === 'unreachable' ? ` ${cause}` : ''}`);
  }

  function dropOldestPair(): void {
    const k = byPair.keys().next().value as string | undefined;
    if (k !== undefined) byPair.delete(k);
  }

  return {
    lookup(l) {
      s.lookups.total++;
      if (l.answerTs < 0 || l.addrs.length === 0) {
        // Nothing to connect to: settled now (a NODATA AAAA beside a used A is settled at sweep).
        if (l.answerTs >= 0 && l.rcode === 'NOERROR') open.push(l);
        else settle(l);
        return;
      }
      for (const a of l.addrs) {
        const k = `${l.client}|${a}`;
        let list = byPair.get(k);
        if (list) byPair.delete(k);
        else list = [];
        list.push(l);
        if (list.length > 4) list.shift();
        byPair.set(k, list);
        if (byPair.size > maxJoinable) dropOldestPair();
      }
      open.push(l);
    },
    join(client, server, ts) {
      const list = byPair.get(`${client}|${server}`);
      if (!list) return null;
      for (let i = list.length - 1; i >= 0; i--) {
        const l = list[i]!;
        if (l.answerTs <= ts && ts - l.answerTs <= windowS) {
          l.used = true;
          nameUsed.set(`${l.client}|${l.name}`, ts);
          return l;
        }
      }
      return null;
    },
    sweep(now) {
      while (openHead < open.length && now - open[openHead]!.answerTs > 2 * windowS) settle(open[openHead++]!);
      if (openHead > 1024 && openHead * 2 > open.length) {
        open.splice(0, openHead);
        openHead = 0;
      }
      // Bounded as byPair is: the oldest is forgotten (it can no longer be joined anyway).
      while (open.length - openHead > maxJoinable) settle(open[openHead++]!);
      for (const [k, list] of byPair) {
        if (now - list[list.length - 1]!.answerTs <= windowS) break;
        byPair.delete(k);
      }
      if (nameUsed.size > maxJoinable) {
        for (const [k, t] of nameUsed) if (now - t > 2 * windowS) nameUsed.delete(k);
      }
    },
    wantsRow: (start) => rows?.wants(start) ?? false,
    add(row) {
      tally(row.phase, row.outcome, row.cause, row.name !== null, row.connectMs !== null, row.tls !== null && row.tls.outcome === 'ok');
      rows?.push(row);
    },
    count(phase, outcome, cause, withLookup, connected, tlsOk) {
      tally(phase, outcome, cause, withLookup, connected, tlsOk);
      rows?.skip();
    },
    finish(lookupMs) {
      for (let i = openHead; i < open.length; i++) settle(open[i]!);
      open.length = 0;
      openHead = 0;
      byPair.clear();
      s.lookupMs = lookupMs;
      s.summary = attemptsSentence(s);
      if (rows) {
        s.rows = rows.finish();
        s.rowsOmitted = rows.total() - s.rows.length;
      }
      return s;
    },
  };
}

function pct(part: number, whole: number): string {
  if (whole === 0) return '0%';
  const p = (100 * part) / whole;
  return p >= 10 || p === 0 ? `${Math.round(p)}%` : `${p.toFixed(1)}%`;
}

/** 4200 → "4.2 s", 35.5 → "36 ms", 0.4 → "0.4 ms". */
export function humanMs(ms: number): string {
  if (ms >= 1000) return `${(ms / 1000).toFixed(ms >= 10_000 ? 0 : 1)} s`;
  if (ms >= 10) return `${Math.round(ms)} ms`;
  return `${ms.toFixed(1)} ms`;
}

/** "DNS p99 4.2 s; of 312 attempts 41% connected, 30% completed TLS, …; 12 lookups led to no connection (8 NXDOMAIN, 4 unanswered)." */
export function attemptsSentence(s: AttemptsSummary): string {
  const parts: string[] = [];
  if (s.lookupMs) parts.push(`DNS p99 ${humanMs(s.lookupMs.p99)}`);
  if (s.attempts) {
    const bits = [`of ${s.attempts} attempt${s.attempts === 1 ? '' : 's'} ${pct(s.connected, s.attempts)} connected`];
    if (s.tlsCompleted) bits.push(`${pct(s.tlsCompleted, s.attempts)} completed TLS`);
    bits.push(`${pct(s.ok, s.attempts)} ok`);
    const fails = Object.entries(s.outcomes)
      .filter(([k]) => k !== 'ok')
      .sort((a, b) => b[1] - a[1]);
    for (const [k, n] of fails.slice(0, 4)) bits.push(`${pct(n, s.attempts)} ${k.replace(':', ' ')}`);
    if (s.withLookup < s.attempts) bits.push(`${s.attempts - s.withLookup} with no DNS answer seen`);
    parts.push(bits.join(', '));
  } else parts.push('no TCP connection attempts');
  const w = s.lookups.withoutConnection;
  if (w) {
    const by = Object.entries(s.lookups.withoutConnectionBy)
      .sort((a, b) => b[1] - a[1])
      .map(([k, n]) => `${n} ${k}`);
    parts.push(`${w} lookup${w === 1 ? '' : 's'} led to no connection (${by.join(', ')})`);
  }
  return `${parts.join('; ')}.`;
}
