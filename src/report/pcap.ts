import type { ChalkInstance } from 'chalk';
import type { PcapResult, Pcts } from '../capture/analyze.js';
import { fmtMs, fmtPct, table } from './format.js';

function pctsText(p: Pcts | null): string {
  return p ? `p50 ${fmtMs(p.p50)} ms, p90 ${fmtMs(p.p90)} ms, p99 ${fmtMs(p.p99)} ms, max ${fmtMs(p.max)} ms` : '-';
}

function counts(m: Record<string, number>): string {
  const e = Object.entries(m).sort((a, b) => b[1] - a[1]);
  return e.length ? e.map(([k, v]) => `${k} ${v}`).join(', ') : '-';
}

/** The human summary of `conndx pcap`: what was read, each phase, then the verdict. */
export function renderPcapSummary(c: ChalkInstance, r: PcapResult): string {
  const out: string[] = [];
  const { tcp, tls, dns } = r;
  out.push(
    c.bold(`${r.file}: ${r.format}, ${r.packets} packets over ${r.durationS.toFixed(3)} s`) +
      (r.linkTypes.length ? c.dim(` (${r.linkTypes.join(', ')})`) : ''),
  );
  if (r.skipped.records)
    out.push(c.yellow(`skipped ${r.skipped.records} records (${r.skipped.bytes} bytes): ${counts(r.skipped.reasons)}`));
  out.push('');
  const bad = (n: number) => (n > 0 ? c.red(String(n)) : String(n));
  const rows: (string | number)[][] = [];
  rows.push(['TCP', `${tcp.connections} attempts, ${tcp.established} established (${fmtPct(tcp.established, tcp.connections)})`]);
  rows.push([
    '',
    `SYN retransmitted ${tcp.synRetransmitted}, refused ${bad(tcp.refused)}, never answered ${bad(tcp.unanswered)}` +
      (tcp.unreachable ? `, unreachable ${bad(tcp.unreachable)} (${counts(tcp.unreachableBy)})` : '') +
      (tcp.pmtuBlackholeSuspected ? `, PMTU black hole suspected ${bad(tcp.pmtuBlackholeSuspected)}` : ''),
  ]);
  if (tcp.resetsBeforeData || tcp.closedBeforeData)
    rows.push([
      '',
      `accepted, then before any data: reset ${bad(tcp.resetsBeforeData)}, closed by the server ${bad(tcp.closedBeforeData)} (phase app, as conndx tcp says)`,
    ]);
  rows.push([
    '',
    `resets ${bad(tcp.resets)} (by client ${tcp.resetsBy.client}, by server ${tcp.resetsBy.server}; in phase tcp ${tcp.resetsInPhase.tcp}, tls ${tcp.resetsInPhase.tls}, app ${tcp.resetsInPhase.app}${tcp.resetsAfterClientClose ? `; ${tcp.resetsAfterClientClose} after the client's own FIN, no failure` : ''})`,
  ]);
  rows.push(['', `handshake RTT ${pctsText(tcp.handshakeRttMs)}`]);
  if (tcp.midstream) rows.push(['', `${tcp.midstream} connections already open when the capture started`]);
  rows.push(['', c.dim(`Zeek conn_state: ${counts(tcp.states)}`)]);
  rows.push([
    'TLS',
    `${tls.handshakes} handshakes, ${tls.completed} completed, ${bad(tls.failed)} failed (${fmtPct(tls.failed, tls.handshakes)})`,
  ]);
  if (tls.failed) rows.push(['', `failures: ${counts(tls.outcomes)}`]);
  rows.push(['', `versions: ${counts(tls.versions)}${Object.keys(tls.alerts).length ? `; alerts: ${counts(tls.alerts)}` : ''}`]);
  rows.push([
    'DNS',
    `${dns.queries} queries, ${dns.answered} answered, ${bad(dns.unanswered)} unanswered${dns.truncated ? `, ${dns.truncated} truncated` : ''}`,
  ]);
  rows.push(['', `rcodes: ${counts(dns.rcodes)}`]);
  rows.push(['', `response time ${pctsText(dns.latencyMs)}`]);
  out.push(table(rows, { indent: '  ' }));
  // Below the table, so the phase column keeps its width.
  if (r.icmp?.errors) {
    const mtus = Object.keys(r.icmp.mtus);
    out.push(
      `  ICMP: ${r.icmp.errors} errors (${counts(r.icmp.byName)}); ${r.icmp.matchedTcp} quoting a TCP connection seen${mtus.length ? `; MTU ${mtus.join(', ')}` : ''}`,
    );
  }
  if (r.attempts) out.push(`  attempts: ${r.attempts.summary}`);
  out.push('');
  out.push(`failures by phase: dns ${r.failures.dns}, tcp ${r.failures.tcp}, tls ${r.failures.tls}, app ${r.failures.app}`);
  const v = r.verdict;
  out.push('--- verdict ---');
  out.push(v.phase === 'ok' ? c.green(`[ok] ${v.summary}`) : `${c.red(`[${v.phase}]`)} ${v.summary}`);
  return out.join('\n') + '\n';
}

/** --flows without --json: one line per connection record. */
export function renderPcapFlows(c: ChalkInstance, r: PcapResult): string {
  const conns = r.connections ?? [];
  const rows: (string | number)[][] = [['start (UTC)', 'client', 'server', 'state', 'phase', 'outcome', 'syn-rtx', 'rtt', 'tls']];
  for (const k of conns) {
    rows.push([
      utcMicros(k.start),
      k.client,
      k.server,
      k.zeekState,
      k.phase,
      k.outcome === 'ok' ? c.green(k.outcome) : c.red(k.outcome),
      k.synRetransmits,
      k.rttMs === null ? '-' : fmtMs(k.rttMs),
      [k.tlsVersion, k.sni].filter(Boolean).join(' ') || '-',
    ]);
  }
  return table(rows, { header: true }) + '\n';
}

/**
 * A capture timestamp (seconds since the epoch, µs precision) as UTC with
 * microseconds, e.g. 2023-11-14T22:13:20.000123Z: what a ticket reader can line
 * up with logs, where epoch seconds say nothing at a glance.
 */
export function utcMicros(epochSec: number): string {
  if (!Number.isFinite(epochSec)) return '-';
  const whole = Math.floor(epochSec);
  let micros = Math.round((epochSec - whole) * 1e6);
  let secs = whole;
  if (micros >= 1e6) {
    secs += 1;
    micros -= 1e6;
  }
  const d = new Date(secs * 1000);
  if (Number.isNaN(d.getTime())) return '-';
  return `${d.toISOString().slice(0, 19)}.${String(micros).padStart(6, '0')}Z`;
}
