import type { ChalkInstance } from 'chalk';
import type { AnalyzerProgress, PcapResult } from '../capture/analyze.js';
import { fmtMs, fmtPct, table } from './format.js';
import { utcMicros } from './pcap.js';

/** `pcap --attempts` without --json: one line per attempt (DNS → TCP → TLS → app), then the attempts sentence. */
export function renderPcapAttempts(c: ChalkInstance, r: PcapResult): string {
  const rows: (string | number)[][] = [
    ['start (UTC)', 'client', 'server', 'name', 'lookup', 'rcode', 'connect', 'syn-rtx', 'tls', 'bytes out/in', 'phase', 'outcome'],
  ];
  for (const a of r.attempts.rows ?? []) {
    const tls = a.tls
      ? [a.tls.starttls ? `starttls(${a.tls.starttls})` : '', a.tls.version ?? '', a.tls.outcome].filter(Boolean).join(' ')
      : '-';
    const outcome = a.cause && a.outcome === 'unreachable' ? `${a.outcome} (${a.cause})` : a.outcome;
    rows.push([
      utcMicros(a.start),
      a.client,
      a.server,
      a.name ?? '-',
      a.lookupMs === null ? '-' : `${fmtMs(a.lookupMs)} ms`,
      a.rcode ?? '-',
      a.connectMs === null ? '-' : `${fmtMs(a.connectMs)} ms`,
      a.synRetransmits,
      tls,
      `${a.appBytes.sent}/${a.appBytes.received}`,
      a.phase,
      a.phase === 'ok' ? c.green(outcome) : c.red(outcome),
    ]);
  }
  const out = [table(rows, { header: true })];
  for (const a of r.attempts.rows ?? [])
    if (a.outcome === 'pmtu-blackhole-suspected' && a.cause) out.push(c.yellow(`${a.client} → ${a.server}: ${a.cause}`));
  return out.join('\n') + '\n';
}

/** One line of `--follow`: the figures so far. */
export function renderPcapProgress(p: AnalyzerProgress): string {
  return (
    `${p.packets} packets over ${p.durationS.toFixed(1)} s; TCP ${p.tcp.connections} attempts, ${p.tcp.established} established ` +
    `(${fmtPct(p.tcp.established, p.tcp.connections)}), ${p.open} open; DNS ${p.dns.queries} queries, ${p.dns.answered} answered; ` +
    `failures dns ${p.failures.dns}, tcp ${p.failures.tcp}, tls ${p.failures.tls}, app ${p.failures.app}` +
    (p.verdict.phase === 'ok' ? '' : ` [${p.verdict.phase}]`)
  );
}
