import { fmtMs } from '../../core/format.js';
import { ENGINE_OUTCOMES, TCP_OUTCOMES, type ProbePlan, type ProbeResult, type TargetRef } from '../../core/types.js';
import { readInputSync } from '../../input.js';
import { DURATION_MAX_MS, parseHostPort, unescapeText } from '../../parse.js';
import { machineSynSchedule, makeTcpProbe, SYN_SLACK_BEFORE_MS, SYN_WINDOW_AFTER_MS, type SynSchedule, type TcpTarget } from '../tcp.js';
import {
  CHECK_MAX_WAIT_MS,
  durationOption,
  putLookups,
  type KindOption,
  type KindSummary,
  type ProbeKind,
  type ResolvedTarget,
} from './kind.js';

/** What a tcp plan is built from: `conndx tcp` flags, a tcp check, diagnose's connect phase. */
export interface TcpKindSettings {
  timeoutMs: number;
  /** Bytes to write once connected. */
  send?: Buffer;
  /** How long to watch the connection after the handshake (0: not at all, unless `send` waits for a reply). */
  holdMs: number;
  close: 'fin' | 'rst';
  /** Linux's SYN retransmission steps (default: this machine's). */
  synSchedule?: SynSchedule;
}

/**
 * Failures by the phase they happened in, as `pcap` counts them: connect
 * failures in tcp, a reset or close after the handshake in app. Errors of
 * this machine are left out (they are in localErrors): no packet shows them.
 */
export function failuresByPhase(r: ProbeResult): { tcp: number; app: number } {
  const o = r.outcomes;
  const n = (k: string) => o[k] ?? 0;
  return {
    tcp: n('refused') + n('timeout') + n('unreachable') + Math.max(0, n('error') - (r.localErrors ?? 0)),
    app: n('reset') + n('closed'),
  };
}

const PEER_WORDS: Record<string, string> = { quiet: 'stayed quiet', data: 'answered with data', fin: 'closed (FIN)', rst: 'reset (RST)' };

const summary: KindSummary = {
  phaseLabel: 'tcp connect',
  timingRows: [
    ['tcpConnectMs', 'tcp connect, failed after'],
    ['firstByteMs', 'first byte'],
    ['peerCloseMs', 'peer close'],
  ],
  attemptDetail: (r) => {
    const d = r.detail ?? {};
    const parts: string[] = [];
    if (d.peer) {
      const after = typeof d.peerAfterMs === 'number' ? ` after ${fmtMs(d.peerAfterMs)} ms` : '';
      parts.push(`peer ${String(d.peer)}${d.peer === 'quiet' ? '' : after}`);
      if (typeof d.bytesReceived === 'number' && d.bytesReceived > 0) parts.push(`${d.bytesReceived} bytes`);
    }
    if (d.synRetransmits) parts.push(`SYN resent ${String(d.synRetransmits)}x (suspected)`);
    return parts.join(', ');
  },
  extra: (r) => {
    const lines: string[] = [];
    const n = (r.synRetransmitSuspected as number | undefined) ?? 0;
    if (n > 0 || (r.outcomes.timeout ?? 0) > 0) {
      lines.push(`SYN retransmits suspected: ${n} of ${r.attempts} attempts (Linux resends an unanswered SYN after 1s)`);
    }
    const f = r.failures as Record<string, number> | undefined;
    if (f && (f.tcp || f.app)) {
      const of = (names: string[]) =>
        names
          .filter((k) => r.outcomes[k])
          .map((k) => `${k} ${r.outcomes[k]}`)
          .join(', ');
      lines.push(
        `failures by phase: tcp ${f.tcp}${f.tcp ? ` (${of(['refused', 'timeout', 'unreachable', 'error'])})` : ''}, app ${f.app}${f.app ? ` (${of(['reset', 'closed'])})` : ''}`,
      );
      // The phase that worked: the handshake itself, when only what came after it failed.
      if (f.app)
        lines.push(`tcp handshake completed in ${r.succeeded + f.app} of ${r.attempts} attempts; ${f.app} failed after it (phase app)`);
    }
    const peers = r.peerAfterConnect as Record<string, number> | undefined;
    if (peers) {
      lines.push(
        `after connect the peer: ${Object.entries(peers)
          .map(([k, v]) => `${PEER_WORDS[k] ?? k} ${v}`)
          .join(', ')}`,
      );
    }
    return lines;
  },
};

/** --send / `send:`: text with backslash escapes, or @file for the file's bytes. */
export function parseSend(text: string | undefined, what = '--send file'): Buffer | undefined {
  if (text === undefined) return undefined;
  if (text.startsWith('@')) return readInputSync(text.slice(1), 'send', what);
  return unescapeText(text);
}

/** The options of `conndx tcp` and of a tcp check. */
export const TCP_OPTIONS: readonly KindOption[] = [
  {
    field: 'send',
    flag: '--send <data>',
    help: "send this once connected: text with escapes (\\r \\n \\t \\0 \\\\ \\xHH), or @file for a file's bytes (at most 1 MiB)",
    yaml: 'send',
    type: 'string',
    // A check keeps the text: an @file is read when the check runs.
    parse: (v, _name, source) => (source === 'cli' ? parseSend(String(v)) : v),
  },
  {
    field: 'holdMs',
    flag: '--hold <d>',
    help: 'watch the connection this long after the handshake: quiet, data, FIN (closed) or RST (reset) (default 0, at most 1h)',
    yaml: 'hold',
    type: 'duration',
    default: 0,
    parse: (v, name, source) => durationOption(v, name, source, { cliMax: DURATION_MAX_MS.hold, yamlMax: CHECK_MAX_WAIT_MS }),
  },
  {
    field: 'close',
    flag: '--close <how>',
    help: 'how conndx ends its own connections: fin or rst (see below)',
    choices: ['fin', 'rst'],
    shownDefault: 'fin',
    yaml: 'close',
    type: 'string',
    default: 'fin',
    parse: (v) => {
      if (v !== 'fin' && v !== 'rst') throw new Error(`expected fin or rst, got "${String(v)}"`);
      return v;
    },
  },
];

/** A tcp check's settings (CheckSpec.tcp): `send` as written (an @file is read at each run). */
export interface TcpCheckSettings {
  send?: string;
  holdMs: number;
  close: 'fin' | 'rst';
}

/** A duration as `check --dry-run` writes it: 2m, 5s, 250ms. */
const planDuration = (v: number) => (v % 60_000 === 0 ? `${v / 60_000}m` : v % 1000 === 0 ? `${v / 1000}s` : `${v}ms`);
const secs = (ms: number) => (ms % 1000 === 0 ? `${ms / 1000}s` : `${fmtMs(ms)} ms`);

function tcpHelp(): string {
  const schedule = machineSynSchedule();
  return `
Examples:
  conndx tcp db.internal:5432 10.1.2.3:443 --count 200 --concurrency 20
  conndx tcp api:8080 --send $'GET / HTTP/1.0\\r\\n\\r\\n' --hold 2s
  conndx tcp 10.1.2.3:443 --timeout 5s -q          # a timeout past 1s shows SYN retransmission
  conndx tcp [::1]:8080 -6 --count 20000 --concurrency 2000 --close rst

Outcomes: ok, refused (RST in reply to the SYN), timeout (the SYN was never answered: a
firewall drop, a full accept queue, a dead host), unreachable (ICMP host/net unreachable),
reset (RST after the handshake, within --hold or while sending: phase app), closed (FIN
before any data, within --hold: phase app), error (always named; errors of this machine,
such as EMFILE or EADDRNOTAVAIL, are counted apart and say nothing about the target).

Timing: the connect time runs from the moment the SYN left to the connection being
established. A host name is resolved once per target, before the run, with the system
resolver; its lookup time is reported apart (lookupMs).

--send without --hold waits for the first byte of the reply (up to --timeout);
with --hold, conndx watches for that long and reports the first byte, the bytes
received and whether the peer closed or reset, and after how long.

--close fin (default) is the polite close: the peer sees an orderly end of the
connection, nothing in its logs or reset counters. The side that closes first
keeps the connection in TIME_WAIT for a minute, so a big run leaves thousands
of TIME_WAIT sockets holding local ports. --close rst ends each connection
with a RST instead: no TIME_WAIT, the local port is free again at once, at the
cost of a "connection reset" on the server side.

SYN retransmission: Linux resends an unanswered SYN; on this machine at
${schedule.stepsMs.map((x) => secs(x)).join(', ')} after the first
(${schedule.source}).
A connect that completes from ${SYN_SLACK_BEFORE_MS} ms before to ${SYN_WINDOW_AFTER_MS} ms (a tenth of the step for late
steps) after one of those steps, or a timeout longer than the first step, counts in synRetransmitSuspected.`;
}

export const tcpKind: ProbeKind<TcpKindSettings> = {
  name: 'tcp',
  options: TCP_OPTIONS,
  command: {
    summary: 'TCP connects: handshake time, refused vs. silently dropped, what the peer does after the handshake',
    description: 'TCP connects: handshake time percentiles, refused vs. silently dropped, and what the peer does after the handshake',
    argument: [
      '<host:port...>',
      'targets, e.g. db.internal:5432 10.1.2.3:443 [::1]:8080; @FILE reads one per line, @- from stdin (at most 10 MiB and 10,000 targets)',
    ],
    helpAfter: tcpHelp,
  },
  generic: {
    parseTarget: (raw) => parseHostPort(raw),
    settings: (v, shared) => ({
      timeoutMs: shared.timeoutMs,
      send: v.send as Buffer | undefined,
      holdMs: v.holdMs as number,
      close: v.close as 'fin' | 'rst',
      synSchedule: machineSynSchedule(),
    }),
    describe: (s, pacing) => {
      const parts: string[] = [pacing];
      if (s.holdMs > 0) parts.push(`hold ${secs(s.holdMs)}`);
      if (s.close !== 'fin') parts.push(`close ${s.close}`);
      return parts.join(', ');
    },
  },
  check: {
    settings: (v): TcpCheckSettings => ({
      send: v.send as string | undefined,
      holdMs: v.holdMs as number,
      close: v.close as 'fin' | 'rst',
    }),
    planSettings: (c, shared) => {
      const t = c as TcpCheckSettings;
      return { timeoutMs: shared.timeoutMs, send: parseSend(t.send, 'send file'), holdMs: t.holdMs, close: t.close };
    },
  },
  planWords: (c) => {
    const t = c as TcpCheckSettings;
    const w: string[] = [];
    if (t.send !== undefined) w.push('send data');
    if (t.holdMs) w.push(`hold ${planDuration(t.holdMs)}`);
    if (t.close !== 'fin') w.push(`close ${t.close}`);
    return w;
  },
  phase: 'tcp',
  outcomes: [...TCP_OUTCOMES, ...ENGINE_OUTCOMES],
  // A reset or close after the handshake is the application's phase, as `pcap` counts it.
  phaseOfOutcome: (o) => (o === 'reset' || o === 'closed' ? 'app' : 'tcp'),
  summary: () => summary,
  plan(s, resolved: ResolvedTarget[]) {
    const schedule = s.synSchedule ?? machineSynSchedule();
    const targets: TargetRef<TcpTarget>[] = resolved.map((t) => ({
      key: t.key,
      target: { address: t.address, port: t.port, family: t.family },
    }));
    // The engine's backstop covers the connect and the watch after it.
    const watchMs = s.holdMs > 0 ? s.holdMs : s.send ? s.timeoutMs : 0;
    const plan: ProbePlan<TcpTarget> = {
      probe: 'tcp',
      targets,
      fn: makeTcpProbe({ timeoutMs: s.timeoutMs, send: s.send, holdMs: s.holdMs, close: s.close, synSchedule: schedule }),
      // A FIN close lingers up to FIN_GRACE_MS after the attempt: count its descriptor twice.
      fdsPerAttempt: s.close === 'fin' ? 2 : 1,
      zeroCounters: ['synRetransmitSuspected'],
      decorate: (res) => {
        putLookups(res, resolved);
        for (const x of Object.values((res.byTarget ?? {}) as Record<string, ProbeResult>)) x.failures = failuresByPhase(x);
        res.failures = failuresByPhase(res);
        res.synSchedule = { stepsMs: schedule.stepsMs, giveUpMs: schedule.giveUpMs, source: schedule.source };
      },
    };
    return Promise.resolve({ plan: plan as ProbePlan<unknown>, engineTimeoutMs: s.timeoutMs + watchMs, close: () => {} });
  },
};
