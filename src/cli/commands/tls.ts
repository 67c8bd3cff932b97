import type { Command } from 'commander';
import { ConndxError } from '../../errors.js';
import type { CliContext } from '../context.js';

// Placeholder until this command lands; it fails loudly instead of pretending.
export function registerTls(program: Command, _ctx: CliContext): Command {
  return program.command('tls').description('(not built yet)').allowUnknownOption().action(() => {
    throw new ConndxError('CONNDX_BAD_ARGUMENT', '"tls" is not built yet in this version of conndx');
  });
}
