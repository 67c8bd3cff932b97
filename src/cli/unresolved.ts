import { fmtMs } from '../report/format.js';
import { makeMeta } from '../core/meta.js';
import { emptyResult } from '../core/types.js';
import type { Resolved } from '../probes/resolve.js';
import { write, type CliContext } from './context.js';

/** A target whose name did not resolve: a finding about that target, not bad input. */
export interface Unresolved {
  key: string;
  outcome: string;
  cause: string;
  lookupMs: number;
}

const round = (x: number) => Math.round(x * 1000) / 1000;

/**
 * The targets of a tcp/tls run whose names did not resolve, each named on
 * stderr with its DNS outcome. When none resolved, the run is over: the
 * --json object says so and the exit code is 2 (`done` is true). When some
 * did, the others are probed and the result's `dns` names the rest.
 */
export async function reportUnresolved(
  ctx: CliContext,
  probe: string,
  keys: string[],
  resolved: Resolved[],
  label: string,
  json: boolean,
): Promise<{ unresolved: Unresolved[]; done: boolean }> {
  const unresolved: Unresolved[] = [];
  resolved.forEach((r, i) => {
    if (r.ok) return;
    unresolved.push({ key: keys[i]!, outcome: r.outcome, cause: r.cause, lookupMs: r.lookupMs });
    ctx.stderr.write(`conndx: ${keys[i]}: the name does not resolve: DNS ${r.outcome} (${r.cause}) after ${fmtMs(r.lookupMs)} ms\n`);
  });
  if (unresolved.length === 0 || unresolved.length < keys.length) return { unresolved, done: false };
  if (json) {
    await write(
      ctx.stdout,
      JSON.stringify({ ...emptyResult(probe, label), dns: dnsField(unresolved), meta: makeMeta(ctx.argv) }, null, 2) + '\n',
    );
  }
  ctx.exitCode = 2;
  return { unresolved, done: true };
}

/** The result's `dns` field: each unresolved target's DNS outcome. */
export function dnsField(unresolved: Unresolved[]): Record<string, { outcome: string; cause: string; lookupMs: number }> {
  return Object.fromEntries(unresolved.map((u) => [u.key, { outcome: u.outcome, cause: u.cause, lookupMs: round(u.lookupMs) }]));
}

/** Header lines for the targets left out of the run. */
export function unresolvedHeader(unresolved: Unresolved[]): string[] {
  return unresolved.map((u) => `  ${u.key}: does not resolve (DNS ${u.outcome}), not probed`);
}
