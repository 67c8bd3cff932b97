import { fmtMs } from '../../core/format.js';
import { ENGINE_OUTCOMES, TCP_OUTCOMES, type ProbePlan, type ProbeResult, type TargetRef } from '../../core/types.js';
import { machineSynSchedule, makeTcpProbe, type SynSchedule, type TcpTarget } from '../tcp.js';
import { putLookups, type KindSummary, type ProbeKind, type ResolvedTarget } from './kind.js';

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

export const tcpKind: ProbeKind<TcpKindSettings> = {
  name: 'tcp',
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
