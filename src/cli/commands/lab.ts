import type { Command } from 'commander';
import { startLab, stopLab, LAB } from '../../lab/index.js';
import { formatHostPort } from '../../parse.js';
import { table } from '../../report/format.js';
import type { CliContext } from '../context.js';

export function registerLab(program: Command, ctx: CliContext): Command {
  return program
    .command('lab')
    .description('start misbehaving endpoints on loopback and show where they listen, until Ctrl-C')
    .argument('[endpoint...]', 'endpoints to start (default: all); see --list')
    .option('--list', 'list the endpoints and exit')
    .option('--json', 'print the endpoints as JSON')
    .addHelpText('after', `
Examples:
  conndx lab                         # every endpoint
  conndx lab dns-slow-tail dns-drop  # just these
  conndx lab --list

Everything binds 127.0.0.1 only. Each line names the outcome a probe should report.`)
    .action(async (names: string[], o: { list?: boolean; json?: boolean }) => {
      if (o.list) {
        ctx.stdout.write(Object.keys(LAB).join('\n') + '\n');
        return;
      }
      const eps = await startLab(names);
      if (o.json) {
        ctx.stdout.write(JSON.stringify(eps.map(({ close: _c, info, ...e }) => ({ ...e, info: info && Object.fromEntries(Object.entries(info).filter(([, v]) => !Array.isArray(v) || v.length < 20)) })), null, 2) + '\n');
      } else {
        ctx.stdout.write(ctx.c.bold('conndx lab: misbehaving endpoints on loopback (Ctrl-C to stop)') + '\n');
        ctx.stdout.write(table([['endpoint', 'kind', 'address', 'expect', 'what it does'],
          ...eps.map((e) => [e.name, e.kind, formatHostPort(e.host, e.port), e.expect, e.description])], { header: true }) + '\n');
        const dns = eps.find((e) => e.kind === 'dns' && e.expect === 'ok');
        if (dns) ctx.stdout.write(`\ntry: conndx dns lab.test --server ${formatHostPort(dns.host, dns.port)}\n`);
      }
      await new Promise<void>((resolve) => {
        if (ctx.stop.aborted) return resolve();
        ctx.stop.addEventListener('abort', () => resolve(), { once: true });
      });
      await stopLab(eps);
    });
}
