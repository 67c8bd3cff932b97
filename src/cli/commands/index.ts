import type { Command } from 'commander';
import type { CliContext } from '../context.js';
import { registerCheck, registerServe } from './check.js';
import { registerDemo } from './demo.js';
import { registerDiagnose } from './diagnose.js';
import { registerDns } from './dns.js';
import { registerLab } from './lab.js';
import { registerMerge } from './merge.js';
import { registerPcap } from './pcap.js';
import { registerTcp } from './tcp.js';
import { registerTls } from './tls.js';

export type RegisterCommand = (program: Command, ctx: CliContext) => Command;

/** Every subcommand, in the order `--help` lists them. */
export const COMMANDS: RegisterCommand[] = [
  registerDns, registerTcp, registerTls, registerPcap, registerDiagnose,
  registerCheck, registerServe, registerLab, registerDemo, registerMerge,
];
