import type { Command } from 'commander';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConndxError } from '../../errors.js';
import { startLab, stopLab, LAB } from '../../lab/index.js';
import { expectFlags, tryArgs } from '../../lab/try.js';
import { mirrorOnIpv6 } from '../../lab/ipv6.js';
import { formatHostPort } from '../../parse.js';
import { table } from '../../report/format.js';
import { fitLine } from '../../report/fit.js';
import type { CliContext } from '../context.js';

export function registerLab(program: Command, ctx: CliContext): Command {
  return program
    .command('lab')
    .description('start misbehaving endpoints on loopback and show where they listen, until Ctrl-C')
    .argument('[endpoint...]', 'endpoints to start (default: all); see --list')
    .option('--list', 'list the endpoints and exit')
    .option('--json', 'print the endpoints as JSON (each with `try`: the command that shows its expect)')
    .option('--try', 'print, for each endpoint, the conndx command that shows its expect')
    .option(
      '--ca-out <file>',
      "write the lab's CA certificate (PEM) here, for --ca (default: a temporary file, removed when the lab stops)",
    )
    .addHelpText(
      'after',
      `
Examples:
  conndx lab                              # every endpoint
  conndx lab dns-slow-tail dns-drop       # just these
  conndx lab --list
  conndx lab tcp-fin-accept --try         # the command to run, and what it should report
  conndx lab tls-ok --ca-out lab-ca.pem   # then: conndx tls ADDR --sni lab.conndx.test --ca lab-ca.pem

Everything binds 127.0.0.1 only. Each line names the outcome a probe should report.`,
    )
    .action(async (names: string[], o: { list?: boolean; json?: boolean; caOut?: string; try?: boolean }) => {
      if (o.list) {
        ctx.stdout.write(Object.keys(LAB).join('\n') + '\n');
        return;
      }
      const eps = await startLab(names);
      // By hand (not --json, which tests and scripts read as one endpoint per name): the TLS and HTTP
      // endpoints on ::1 too, so a name the lab's resolver answers with A and AAAA is healthy on both.
      if (!o.json && !o.list) eps.push(...(await mirrorOnIpv6(eps)));
      // The TLS endpoints share one CA made at start: write it where --ca can read it.
      const ca = eps.map((e) => e.info?.ca).find((v): v is string => typeof v === 'string');
      let caFile: string | undefined;
      let tmp: string | undefined;
      if (ca) {
        try {
          if (o.caOut) caFile = o.caOut;
          else caFile = join((tmp = await mkdtemp(join(tmpdir(), 'conndx-lab-'))), 'lab-ca.pem');
          await writeFile(caFile, ca, { mode: 0o644 });
        } catch (e) {
          await stopLab(eps);
          if (tmp) await rm(tmp, { recursive: true, force: true });
          throw new ConndxError('CONNDX_IO', `cannot write the lab CA to ${caFile}: ${(e as NodeJS.ErrnoException).code ?? String(e)}`);
        }
      }
      if (o.json) {
        ctx.stdout.write(
          JSON.stringify(
            eps.map(({ close: _c, info, ...e }) => ({
              ...e,
              try: ['conndx', ...tryArgs({ ...e, info }, caFile)],
              ...(caFile && info?.ca ? { caFile } : {}),
              info: info && Object.fromEntries(Object.entries(info).filter(([, v]) => !Array.isArray(v) || v.length < 20)),
            })),
            null,
            2,
          ) + '\n',
        );
      } else if (o.try) {
        ctx.stdout.write(ctx.c.bold('conndx lab: each endpoint, the command that shows it, and what it reports (Ctrl-C to stop)') + '\n');
        for (const e of eps) ctx.stdout.write(`conndx ${tryArgs(e, caFile).join(' ')}    # ${e.name}: ${e.expect}\n`);
      } else {
        ctx.stdout.write(ctx.c.bold('conndx lab: misbehaving endpoints on loopback (Ctrl-C to stop)') + '\n');
        // The expect column names the flags an endpoint needs beyond the defaults.
        const expectOf = (e: { name: string; expect: string }) => (expectFlags(e.name) ? `${e.expect} (${expectFlags(e.name)})` : e.expect);
        // 100 columns: name, address and expect on one line, what the endpoint does wrapped under it.
        const rows = table([['endpoint', 'address', 'expect'], ...eps.map((e) => [e.name, formatHostPort(e.host, e.port), expectOf(e)])], {
          header: true,
        }).split('\n');
        const lines = [rows[0]!, ...eps.flatMap((e, i) => [rows[i + 1]!, ...fitLine(`    ${e.kind}: ${e.description}`, 100, 2)])];
        ctx.stdout.write(lines.join('\n') + '\n');
        const dns = eps.find((e) => e.kind === 'dns' && e.expect === 'ok');
        if (dns) ctx.stdout.write(`\ntry: conndx dns lab.test --server ${formatHostPort(dns.host, dns.port)}\n`);
        ctx.stdout.write(`${dns ? '' : '\n'}conndx lab --try prints the command that shows each expect\n`);
        const tlsOk = eps.find((e) => e.kind === 'tls' && e.expect === 'ok') ?? eps.find((e) => e.kind === 'tls');
        if (caFile && tlsOk) {
          ctx.stdout.write(`lab CA: ${caFile}${tmp ? ' (removed when the lab stops; --ca-out FILE keeps one)' : ''}\n`);
          // The endpoint's own command (its --starttls or --proxy included), without the lab's small count and timeout.
          const args = tryArgs(tlsOk, caFile).filter(
            (x, i, all) => !['-c', '--timeout'].includes(x) && !['-c', '--timeout'].includes(all[i - 1] ?? ''),
          );
          ctx.stdout.write(`try: conndx ${args.join(' ')}\n`);
        }
      }
      await new Promise<void>((resolve) => {
        if (ctx.stop.aborted) return resolve();
        ctx.stop.addEventListener('abort', () => resolve(), { once: true });
      });
      await stopLab(eps);
      if (tmp) await rm(tmp, { recursive: true, force: true });
    });
}
