import { shq } from '../shell.js';
import type { DiagnosePlan, ResolverPlan } from './types.js';

/** The DoT/DoH server as `conndx dns --server` takes it, for one address (the URL's path kept for DoH). */
export function serverArg(rp: ResolverPlan, key: string): string {
  if (rp.transport === 'dot') return `tls://${key}`;
  const u = new URL(rp.url!);
  return `https://${key}${u.pathname}${u.search}`;
}

/**
 * The `conndx dns` that asks what a resolver diagnosis asked, of one address, with the
 * trust (--ca, --insecure) and --sni of the run: the next check of any phase of a resolver target.
 */
export function resolverNext(plan: DiagnosePlan, key: string, extra = '--nsid --count 20'): string {
  const rp = plan.resolver!;
  const trust = (plan.reproduceTls ?? []).filter((f, i, all) => f === '--ca' || all[i - 1] === '--ca' || f === '--insecure');
  const sni = plan.sni ? ` --sni ${shq(plan.sni)}` : '';
  return `conndx dns ${shq(rp.name)} --server ${shq(serverArg(rp, key))} --type ${rp.type}${sni}${trust.map((f) => ` ${shq(f)}`).join('')} ${extra}`;
}
