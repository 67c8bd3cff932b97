/**
 * `conndx pcap -`: a capture read from standard input as it is written
 * (`tcpdump -w - | conndx pcap -`). Ends at the end of input or on Ctrl-C, then
 * the summary of what was read is printed as for a file. `--follow` writes the
 * figures so far to stderr every 2 s: refreshed in place on a terminal, one line
 * each time otherwise.
 */
import type { PacketFilter, PcapResult } from '../capture/index.js';
import { ConndxError } from '../errors.js';
import type { CliContext } from './context.js';

export const FOLLOW_EVERY_MS = 2000;

export async function runPcapStdin(
  ctx: CliContext,
  o: { flows?: boolean; attempts?: boolean; filter?: PacketFilter; dnsPorts: number[]; follow?: boolean },
): Promise<PcapResult> {
  const input = ctx.stdin;
  if (!input) throw new ConndxError('CONNDX_BAD_ARGUMENT', '- reads a capture from standard input, which is not available here');
  if ((input as { isTTY?: boolean }).isTTY)
    throw new ConndxError('CONNDX_BAD_ARGUMENT', 'standard input is a terminal: pipe a capture in (tcpdump -w - | conndx pcap -)');
  const { analyzeStream } = await import('../capture/live.js');
  const { renderPcapProgress } = await import('../report/pcap-attempts.js');
  const tty = Boolean(ctx.stderr.isTTY);
  let shown = false;
  const follow = o.follow
    ? {
        everyMs: FOLLOW_EVERY_MS,
        onProgress: (p: Parameters<typeof renderPcapProgress>[0]) => {
          shown = true;
          ctx.stderr.write(tty ? `\r\x1b[2K${renderPcapProgress(p)}` : `${renderPcapProgress(p)}\n`);
        },
      }
    : undefined;
  const res = await analyzeStream(input, '-', {
    flows: o.flows,
    attempts: o.attempts,
    filter: o.filter,
    dnsPorts: o.dnsPorts,
    signal: ctx.stop,
    follow,
  });
  if (shown && tty) ctx.stderr.write('\n');
  if (!res.ok) throw new ConndxError('CONNDX_NOT_A_CAPTURE', `standard input is not a capture conndx can read: ${res.reason}`);
  return res.result;
}
