import { Option, type Command } from 'commander';
import { readInputSync } from '../../input.js';
import { fmtMs } from '../../report/format.js';
import { resolveTargets } from '../../probes/resolve.js';
import { failuresByPhase, tcpKind, type TcpKindSettings } from '../../probes/kinds/tcp.js';
import { machineSynSchedule, SYN_SLACK_BEFORE_MS, SYN_WINDOW_AFTER_MS } from '../../probes/tcp.js';
import type { CliContext } from '../context.js';
import { DURATION_MAX_MS, parseDuration, unescapeText } from '../../parse.js';
import { addProbeOptions, describePacing, parseProbeOptions, type ProbeRunOptions } from '../probe-options.js';
import { kindSummaryParts, lookupLines, runProbeCommand } from '../run-probe.js';
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
  const parts: string[] = [describePacing(o)];
  if (holdMs > 0) parts.push(`hold ${secs(holdMs)}`);
  if (close !== 'fin') parts.push(`close ${close}`);
  return parts.join(', ');
}

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
    const settings: TcpKindSettings = {
      timeoutMs: opts.timeoutMs,
      send: parseSend(o.send === undefined ? undefined : String(o.send)),
      holdMs: o.hold === undefined ? 0 : parseDuration(String(o.hold), '--hold', { max: DURATION_MAX_MS.hold }),
      close: String(o.close) as 'fin' | 'rst',
      synSchedule: schedule,
    };
    const { raw, hps } = await parseTargetList(args, { family: opts.family, stdin: ctx.stdin });

    // Resolve each name once, before the run; the lookup time is reported apart.
    const { resolved, targets } = await resolveTargets(hps, opts.family);
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

    const built = await tcpKind.plan(settings, targets);
    await runProbeCommand(ctx, {
      ...built.plan,
      label: raw.join(' '),
      leftOut: unresolved,
      opts,
      engineTimeoutMs: built.engineTimeoutMs,
      header: [`CONNDX TCP ${raw.join(' ')} (${describeTcpRun(opts, settings.holdMs, settings.close)})`, ...lookupLines(targets)].join(
        '\n',
      ),
      ...kindSummaryParts(tcpKind.summary(settings), ctx),
    });
  });
  return cmd;
}

export { failuresByPhase };
