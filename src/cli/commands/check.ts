import type { Command } from 'commander';
import { ConndxError } from '../../errors.js';
import type { CliContext } from '../context.js';

// Placeholders until synthetic checks land; they fail loudly instead of pretending.
export function registerCheck(program: Command, _ctx: CliContext): Command {
  return program.command('check').description('(not built yet)').allowUnknownOption().action(() => {
    throw new ConndxError('CONNDX_BAD_ARGUMENT', '"check" is not built yet in this version of conndx');
  });
}
export function registerServe(program: Command, _ctx: CliContext): Command {
  return program.command('serve').description('(not built yet)').allowUnknownOption().action(() => {
    throw new ConndxError('CONNDX_BAD_ARGUMENT', '"serve" is not built yet in this version of conndx');
  });
}
