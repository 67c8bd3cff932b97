import type { Command } from 'commander';
import type { CliContext } from '../context.js';

export function registerDns(program: Command, _ctx: CliContext): Command {
  return program.command('dns');
}
