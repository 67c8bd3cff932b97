import type { ProbeResult } from '../core/types.js';

const counts = (o: unknown) =>
  Object.entries((o ?? {}) as Record<string, number>)
    .map(([k, v]) => `${k} ${v}`)
    .join(', ');

/** The EDNS lines of a `conndx dns` summary (NSID per server, EDE, cookies, DNSSEC, DoT/DoH connection facts). */
export function dnsSummaryLines(r: ProbeResult): string[] {
  const out: string[] = [];
  if (r.nsid) out.push(`nsid: ${counts(r.nsid)}`);
  if (r.ede) out.push(`extended errors: ${counts(r.ede)}`);
  if (r.edns && (r.edns as Record<string, number>)['no-opt'])
    out.push(`replies without an OPT record: ${(r.edns as Record<string, number>)['no-opt']}`);
  if (r.cookie) out.push(`cookies: ${counts(r.cookie)}`);
  if (r.ecsScope) out.push(`client subnet scope: ${counts(r.ecsScope)}`);
  if (typeof r.adReplies === 'number')
    out.push(`dnssec: AD set in ${r.adReplies as number}, RRSIG in ${r.rrsigReplies as number} of the replies`);
  const tls = r.tls as { version?: string; certificate?: { subject?: string; daysLeft?: number } } | undefined;
  if (tls?.version) {
    const c = tls.certificate;
    out.push(`tls: ${tls.version}${c ? `, certificate ${c.subject ?? ''} (${c.daysLeft ?? '?'} days left)` : ''}`);
  }
  if (typeof r.connections === 'number') out.push(`connections opened: ${r.connections as number}`);
  return out;
}

/** The per-attempt words after the latency: NSID, EDE, AD. */
export function dnsAttemptParts(d: Record<string, unknown>): string[] {
  const parts: string[] = [];
  if (d.nsid !== undefined) parts.push(`nsid=${String(d.nsid)}`);
  if (Array.isArray(d.ede))
    for (const e of d.ede as { code: number; name: string; text?: string }[])
      parts.push(`EDE ${e.code} ${e.name}${e.text ? ` (${e.text})` : ''}`);
  if (d.ad === true) parts.push('AD');
  if (typeof d.rrsig === 'number' && d.rrsig > 0) parts.push(`RRSIG ${d.rrsig}`);
  return parts;
}

/** Replies that matched no query, named by server and kind. */
export function dnsWarnings(res: ProbeResult): string[] {
  if (!res.mismatchedReplies) return [];
  const per = (res.mismatchedBy ?? {}) as Record<string, { idMismatch: number; late: number; questionMismatch: number }>;
  const parts = Object.entries(per).map(
    ([k, m]) => `${k}: ${m.idMismatch} with an id no query had, ${m.late} late, ${m.questionMismatch} for another question`,
  );
  return [
    `${res.mismatchedReplies as number} replies did not match an outstanding query and were ignored${parts.length ? ` (${parts.join('; ')})` : ''}`,
  ];
}
