import type { Command } from 'commander';
import { fitText } from '../../report/fit.js';
import { stat } from 'node:fs/promises';
import type { PacketFilter, PcapResult } from '../../capture/index.js';
import { ConndxError } from '../../errors.js';
import { makeMeta } from '../../core/meta.js';
import { warn, write, type CliContext } from '../context.js';

interface PcapOpts {
  flows?: boolean;
  attempts?: boolean;
  follow?: boolean;
  filter?: string;
  dnsPort?: string[];
  json?: boolean;
}

function parsePorts(list: string[] | undefined): number[] {
  const out: number[] = [];
  for (const item of list ?? []) {
    for (const p of item.split(',')) {
      if (!/^\d+$/.test(p) || Number(p) < 1 || Number(p) > 65535)
        throw new ConndxError('CONNDX_BAD_ARGUMENT', `--dns-port needs a port number 1-65535, got "${p}"`);
      out.push(Number(p));
    }
  }
  return out;
}

export function registerPcap(program: Command, ctx: CliContext): Command {
  return program
    .command('pcap')
    .description('read a capture (pcap or pcapng) and say in which phase connections failed: DNS, TCP, TLS or the application')
    .argument('<file>', 'a pcap or pcapng file (tcpdump -w, Wireshark, dumpcap), or - to read one from standard input')
    .option('--json', 'one JSON object on stdout')
    .option('--flows', 'one record per TCP connection, the first 20,000 by start (with --json: a "connections" array)')
    .option(
      '--attempts',
      'one row per connection attempt, the first 20,000: DNS answer, connect, TLS, app bytes, verdict (with --json: "attempts.rows")',
    )
    .option('--follow', 'with -: the figures so far on stderr every 2 s (refreshed in place on a terminal)')
    .option('--filter <expr>', 'only packets matching: host A, port N, src/dst host|port, tcp, udp, after T, before T; and/or/not')
    .option('--dns-port <n...>', 'also read this UDP/TCP port as DNS (53, 5353 and 5355 always are)')
    .addHelpText(
      'after',
      `
Examples:
  conndx pcap outage.pcapng
  conndx pcap x.pcap --json > facts.json
  conndx pcap x.pcap --flows --filter 'port 443'
  conndx pcap x.pcap --filter 'after 2024-05-01T10:00Z and before 2024-05-01T10:05Z'
  conndx pcap x.pcap --dns-port 8053
  conndx pcap x.pcap --attempts
  tcpdump -i lo -U -w - tcp | conndx pcap - --follow   # Ctrl-C: the summary of what was read

Exit codes: 0 the capture was analysed (also when cut short: a warning says so),
            3 not a capture (no valid pcap/pcapng header), or bad options.`,
    )
    .action(async (file: string, o: PcapOpts) => {
      const startedAt = new Date().toISOString();
      ctx.onInterrupt = 'summarising what was read so far';
      // Loaded on use: other commands' start-up does not pay for the capture code.
      const { analyzeCapture, parseFilter } = await import('../../capture/index.js');
      let filter: PacketFilter | undefined;
      if (o.filter !== undefined) {
        const f = parseFilter(o.filter);
        if (!f.ok) throw new ConndxError('CONNDX_BAD_ARGUMENT', `--filter: ${f.error}`);
        filter = f.filter;
      }
      const dnsPorts = parsePorts(o.dnsPort);
      if (o.follow && file !== '-')
        throw new ConndxError('CONNDX_BAD_ARGUMENT', '--follow reads a live capture: use it with - (standard input)');
      if (file === '-') {
        const { runPcapStdin } = await import('../pcap-stdin.js');
        const res = await runPcapStdin(ctx, { flows: o.flows, attempts: o.attempts, filter, dnsPorts, follow: o.follow });
        await printPcap(ctx, res, o, startedAt);
        return;
      }
      try {
        const s = await stat(file);
        if (!s.isFile()) throw new ConndxError('CONNDX_IO', `cannot read "${file}": not a regular file`);
      } catch (e) {
        if (e instanceof ConndxError) throw e;
        throw new ConndxError('CONNDX_IO', `cannot read "${file}": ${(e as NodeJS.ErrnoException).code ?? 'error'}`);
      }
      const tty = Boolean(ctx.stderr.isTTY);
      let shown = false;
      const onProgress = tty
        ? (done: number, total: number) => {
            if (total < 64 * 1024 * 1024) return;
            shown = true;
            ctx.stderr.write(
              `\rreading ${file}: ${(done / 1e6).toFixed(0)} of ${(total / 1e6).toFixed(0)} MB (${Math.round((100 * done) / total)}%)`,
            );
          }
        : undefined;
      let res;
      try {
        res = await analyzeCapture(file, { flows: o.flows, attempts: o.attempts, filter, dnsPorts, onProgress, signal: ctx.stop });
      } catch (e) {
        // A file system error is the user's to fix; anything else is ours and stays an internal error.
        const code = (e as NodeJS.ErrnoException).code;
        if (typeof code === 'string' && code.startsWith('E'))
          throw new ConndxError('CONNDX_IO', `cannot read "${file}": ${code}`, { cause: e });
        throw e;
      }
      if (shown) ctx.stderr.write('\n');
      if (!res.ok) throw new ConndxError('CONNDX_NOT_A_CAPTURE', `"${file}" is not a capture conndx can read: ${res.reason}`);
      await printPcap(ctx, res.result, o, startedAt);
    });
}

async function printPcap(ctx: CliContext, result: PcapResult, o: PcapOpts, startedAt: string): Promise<void> {
  const { renderPcapFlows, renderPcapSummary } = await import('../../report/pcap.js');
  for (const w of result.warnings) warn(ctx, w);
  if (o.json) {
    await write(ctx.stdout, JSON.stringify({ ...result, meta: makeMeta(ctx.argv, startedAt) }, null, 2) + '\n');
  } else {
    if (o.flows) await write(ctx.stdout, fitText(renderPcapFlows(ctx.c, result)) + '\n');
    if (o.attempts) {
      const { renderPcapAttempts } = await import('../../report/pcap-attempts.js');
      await write(ctx.stdout, fitText(renderPcapAttempts(ctx.c, result)) + '\n');
    }
    await write(ctx.stdout, fitText(renderPcapSummary(ctx.c, result)));
  }
  ctx.exitCode = 0;
}
