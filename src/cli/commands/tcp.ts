import { Option, type Command } from 'commander';
import { readInputSync } from '../../input.js';
import type { ProbeResult } from '../../engine/summary.js';
import { fmtMs } from '../../report/format.js';
import { resolveHost } from '../../probes/resolve.js';
import { machineSynSchedule, makeTcpProbe, SYN_SLACK_BEFORE_MS, SYN_WINDOW_AFTER_MS, type TcpTarget } from '../../probes/tcp.js';
import type { TargetRef } from '../../core/types.js';
import type { CliContext } from '../context.js';
import { DURATION_MAX_MS, parseDuration, unescapeText } from '../../parse.js';
import { addProbeOptions, parseProbeOptions, type ProbeRunOptions } from '../probe-options.js';
import { runProbeCommand } from '../run-probe.js';
import { reportUnresolved } from '../unresolved.js';
import { parseTargetList } from '../targets.js';

/** --send: text with backslash escapes, or @file for the file's bytes. */
export function parseSend(text: string | undefined): Buffer | undefined {
  if (text === undefined) return undefined;
  if (text.startsWith('@')) {
    return readInputSync(text.slice(1), 'send', '--send file');
  }
  return unescapeText(text);
}

const secs = (ms: number) => (ms % 1000 === 0 ? `${ms / 1000}s` : `${fmtMs(ms)} ms`);

function describeTcpRun(o: ProbeRunOptions, holdMs: number, close: string): string {
  const parts: string[] = [];
  if (o.durationMs !== undefined) parts.push(`for ${secs(o.durationMs)}`);
  if (o.count !== undefined) parts.push(`count ${o.count}`);
  if (o.rate !== undefined) parts.push(`rate ${o.rate}/s`);
  parts.push(`concurrency ${o.concurrency}`, `timeout ${secs(o.timeoutMs)}`);
  if (holdMs > 0) parts.push(`hold ${secs(holdMs)}`);
  if (close !== 'fin') parts.push(`close ${close}`);
  return parts.join(', ');
}

const PEER_WORDS: Record<string, string> = { quiet: 'stayed quiet', data: 'answered with data', fin: 'closed (FIN)', rst: 'reset (RST)' };

export function registerTcp(program: Command, ctx: CliContext): Command {
  const cmd = program
    .command('tcp')
    .description('TCP connects: handshake time percentiles, refused vs. silently dropped, and what the peer does after the handshake')
    .argument(
      '<host:port...>',
      'targets, e.g. db.internal:5432 10.1.2.3:443 [::1]:8080; @FILE reads one per line, @- from stdin (at most 10 MiB and 10,000 targets)',
    )
    .option(
      '--send <data>',
      "send this once connected: text with escapes (\\r \\n \\t \\0 \\\\ \\xHH), or @file for a file's bytes (at most 1 MiB)",
    )
    .option(
      '--hold <d>',
      'watch the connection this long after the handshake: quiet, data, FIN (closed) or RST (reset) (default 0, at most 1h)',
    )
    .addOption(
      new Option('--close <how>', 'how conndx ends its own connections: fin or rst (see below)').choices(['fin', 'rst']).default('fin'),
    );
  addProbeOptions(cmd);
  const schedule = machineSynSchedule();
  cmd.addHelpText(
    'after',
    `
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
steps) after one of those steps, or a timeout longer than the first step, counts in synRetransmitSuspected.`,
  );

  cmd.action(async (args: string[], o: Record<string, unknown>) => {
    const opts = parseProbeOptions(o);
    const send = parseSend(o.send === undefined ? undefined : String(o.send));
    const holdMs = o.hold === undefined ? 0 : parseDuration(String(o.hold), '--hold', { max: DURATION_MAX_MS.hold });
    const close = String(o.close) as 'fin' | 'rst';
    const { raw, hps } = await parseTargetList(args, { family: opts.family, stdin: ctx.stdin });

    // Resolve each name once, before the run; the lookup time is reported apart.
    const resolved = await Promise.all(hps.map((hp) => resolveHost(hp.host, opts.family)));
    // A name that does not resolve is a finding about that target: the others are still probed.
    const { unresolved, done } = await reportUnresolved(
      ctx,
      'tcp',
      hps.map((hp) => hp.raw),
      resolved,
      raw.join(' '),
      opts.json,
    );
    if (done) return;

    const targets: TargetRef<TcpTarget>[] = hps.flatMap((hp, i) => {
      const r = resolved[i]!;
      return r.ok ? [{ key: hp.raw, target: { address: r.address, port: hp.port, family: r.family } }] : [];
    });
    const lookups = new Map<string, { ms: number; address: string }>();
    hps.forEach((hp, i) => {
      const r = resolved[i]!;
      if (r.ok && r.lookupMs !== null) lookups.set(hp.raw, { ms: r.lookupMs, address: r.address });
    });

    const header = [`CONNDX TCP ${raw.join(' ')} (${describeTcpRun(opts, holdMs, close)})`];
    for (const [k, l] of lookups) header.push(`  ${k}: resolved to ${l.address} in ${fmtMs(l.ms)} ms (not counted in the connect time)`);
    const watchMs = holdMs > 0 ? holdMs : send ? opts.timeoutMs : 0;

    await runProbeCommand(ctx, {
      probe: 'tcp',
      label: raw.join(' '),
      leftOut: unresolved,
      targets,
      fn: makeTcpProbe({ timeoutMs: opts.timeoutMs, send, holdMs, close, synSchedule: schedule }),
      // A FIN close lingers up to FIN_GRACE_MS after the attempt: count its descriptor twice.
      fdsPerAttempt: close === 'fin' ? 2 : 1,
      // The engine's backstop covers the connect and the watch after it.
      opts: { ...opts, timeoutMs: opts.timeoutMs + watchMs },
      header: header.join('\n'),
      zeroCounters: ['synRetransmitSuspected'],
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
      summary: {
        phaseLabel: 'tcp connect',
        timingRows: [
          ['tcpConnectMs', 'tcp connect, failed after'],
          ['firstByteMs', 'first byte'],
          ['peerCloseMs', 'peer close'],
        ],
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
              lines.push(
                `tcp handshake completed in ${r.succeeded + f.app} of ${r.attempts} attempts; ${f.app} failed after it (phase app)`,
              );
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
      },
      decorate: (res) => {
        const add = (x: ProbeResult, key: string) => {
          const l = lookups.get(key);
          if (l) {
            x.lookupMs = round(l.ms);
            x.address = l.address;
          }
        };
        if (hps.length === 1) add(res, hps[0]!.raw);
        else if (lookups.size > 0) {
          // Several names: each target carries its own; the top level carries the slowest.
          res.lookupMs = round(Math.max(...[...lookups.values()].map((l) => l.ms)));
        }
        for (const [k, x] of Object.entries((res.byTarget ?? {}) as Record<string, ProbeResult>)) {
          add(x, k);
          x.failures = failuresByPhase(x);
        }
        res.failures = failuresByPhase(res);
        res.synSchedule = { stepsMs: schedule.stepsMs, giveUpMs: schedule.giveUpMs, source: schedule.source };
      },
    });
  });
  return cmd;
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

const round = (x: number) => Math.round(x * 1000) / 1000;
