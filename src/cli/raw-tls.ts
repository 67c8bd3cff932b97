import { makeMeta } from '../core/meta.js';
import { fitText } from '../report/fit.js';
import { groupName, parseGroup, tlsVersionName } from '../core/tls.js';
import type { TargetRef } from '../core/types.js';
import { ConndxError } from '../errors.js';
import { parsePositiveInt } from '../parse.js';
import { fmtMs } from '../report/format.js';
import type { TlsProbeOptions, TlsTarget } from '../probes/tls.js';
import {
  classicalOffer,
  compareHelloSizes,
  defaultOffer,
  LARGE_HELLO_DEFAULT,
  probeGroups,
  rawHelloOnce,
  RAW_DEFAULT_VERSIONS,
  RAW_MATRIX_GROUPS,
  RAW_MAX_HELLO_SIZE,
  type HelloSizeComparison,
  type RawHelloOffer,
  type RawHelloResult,
} from '../probes/tls-raw.js';
import { write, type CliContext } from './context.js';
import type { ProbeRunOptions } from './probe-options.js';

/**
 * `conndx tls --raw`, `--groups`, `--large-hello`: the raw ClientHello
 * prober's command side. Flags are read up front (bad input exits 3 before
 * anything is sent); each target then gets its attempts one after another.
 */

export interface RawTlsOptions {
  raw: boolean;
  groups: boolean;
  largeHello: boolean;
  /** --raw attempts per target (1 unless --count says). */
  count: number;
  timeoutMs: number;
  family?: 4 | 6;
  offer: RawHelloOffer;
  /** The groups the matrix tries. */
  matrix: number[];
  /** The large ClientHello's size for --large-hello. */
  largeSize: number;
}

/** The smallest --hello-size --large-hello accepts: 1,500 bytes do not fit one segment on a 1500-byte MTU path. */
export const LARGE_HELLO_MIN = 1500;

export const wantsRaw = (o: Record<string, unknown>): boolean => Boolean(o.raw || o.groups || o.largeHello);

function parseGroupList(text: string, flag: string, allowEmpty: boolean): number[] {
  const names = String(text)
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  if (names.length === 0 && !allowEmpty)
    throw new ConndxError('CONNDX_BAD_ARGUMENT', `bad ${flag} "${text}": give groups separated by commas, e.g. x25519,X25519MLKEM768`);
  return names.map((n) => {
    const g = parseGroup(n);
    if (!g)
      throw new ConndxError(
        'CONNDX_BAD_ARGUMENT',
        `bad ${flag} group "${n.slice(0, 40)}": use x25519, secp256r1, secp384r1, secp521r1, x448, ffdhe2048, ffdhe3072, X25519MLKEM768, SecP256r1MLKEM768 or SecP384r1MLKEM1024`,
      );
    return g.code;
  });
}

/** Reads the raw flags; throws bad input for what cannot be sent or does not go together. */
export function rawTlsOptionsFrom(o: Record<string, unknown>, run: ProbeRunOptions, popts: TlsProbeOptions): RawTlsOptions {
  for (const [flag, set] of [
    ['--resume', o.resume],
    ['--versions', o.versions],
    ['--duration', o.duration],
    ['--rate', o.rate],
    ['--ndjson', o.ndjson],
  ] as const) {
    if (set !== undefined && set !== false) {
      throw new ConndxError(
        'CONNDX_BAD_ARGUMENT',
        `${flag} does not go with --raw, --groups or --large-hello (they send hand-built ClientHellos, one at a time)`,
      );
    }
  }
  const versions = RAW_DEFAULT_VERSIONS.filter((v) => {
    const name = tlsVersionName(v);
    return (!popts.minVersion || name >= popts.minVersion) && (!popts.maxVersion || name <= popts.maxVersion);
  });
  let offer = defaultOffer({ versions, grease: o.grease !== false, ...(popts.alpn ? { alpn: popts.alpn } : {}) });
  if (o.offerGroups !== undefined) {
    const groups = parseGroupList(String(o.offerGroups), '--offer-groups', false);
    offer = { ...offer, groups, keyShares: offer.keyShares.filter((g) => groups.includes(g)) };
    if (offer.keyShares.length === 0) offer.keyShares = [groups[0]!];
  }
  if (o.keyShares !== undefined) {
    const shares = parseGroupList(String(o.keyShares), '--key-shares', true);
    const missing = shares.filter((g) => !offer.groups.includes(g));
    if (missing.length)
      throw new ConndxError(
        'CONNDX_BAD_ARGUMENT',
        `--key-shares ${missing.map(groupName).join(',')}: not in the offered groups (${offer.groups.map(groupName).join(',')}); add it to --offer-groups`,
      );
    offer = { ...offer, keyShares: shares };
  }
  let helloSize: number | undefined;
  if (o.helloSize !== undefined) helloSize = parsePositiveInt(String(o.helloSize), '--hello-size', { min: 64, max: RAW_MAX_HELLO_SIZE });
  if (o.largeHello && helloSize !== undefined && helloSize < LARGE_HELLO_MIN) {
    throw new ConndxError(
      'CONNDX_BAD_ARGUMENT',
      `--hello-size ${helloSize} with --large-hello: the large ClientHello needs ${LARGE_HELLO_MIN} bytes or more (two segments)`,
    );
  }
  return {
    raw: Boolean(o.raw) || (!o.groups && !o.largeHello),
    groups: Boolean(o.groups),
    largeHello: Boolean(o.largeHello),
    count: o.count !== undefined ? (run.count ?? 1) : 1,
    timeoutMs: run.timeoutMs,
    ...(run.family ? { family: run.family } : {}),
    offer: { ...offer, ...(helloSize !== undefined && o.raw ? { helloSize } : {}) },
    matrix: o.offerGroups !== undefined && o.groups ? offer.groups : RAW_MATRIX_GROUPS,
    largeSize: helloSize ?? LARGE_HELLO_DEFAULT,
  };
}

interface TargetReport {
  target: string;
  address: string;
  port: number;
  serverName: string | null;
  attempts?: RawHelloResult[];
  groups?: Record<string, string>;
  helloSizes?: HelloSizeComparison;
  outcomes: Record<string, number>;
}

const fmtSeconds = (ms: number) => (ms % 1000 === 0 ? `${ms / 1000}s` : `${ms}ms`);

const answered = (outcome: string) => outcome === 'ok' || outcome === 'hello-retry';

function describeAttempt(r: RawHelloResult): string {
  const h = r.serverHello;
  const parts = [r.outcome];
  if (h) {
    parts.push(h.version, h.cipher);
    if (h.group) parts.push(h.helloRetry ? `asks for group ${h.group}` : `group ${h.group} (share ${h.keyShareLength} bytes)`);
  }
  if (r.serverHelloMs !== null) parts.push(`server hello ${fmtMs(r.serverHelloMs)} ms`);
  if (r.tcpConnectMs !== null) parts.push(`tcp ${fmtMs(r.tcpConnectMs)} ms`);
  if (r.outcome !== 'ok' && r.outcome !== 'hello-retry' && r.cause) parts.push(`(${r.cause})`);
  return parts.join('  ');
}

function offerLine(offer: RawHelloOffer): string {
  const g = offer.grease ? ' (+GREASE)' : '';
  return `offer: groups ${offer.groups.map(groupName).join(',')}${g}; key shares ${offer.keyShares.map(groupName).join(',') || '-'}; versions ${offer.versions.map(tlsVersionName).join(',')}; alpn ${offer.alpn?.join(',') ?? '-'}${offer.helloSize ? `; padded to ${offer.helloSize} bytes` : ''}`;
}

function render(ctx: CliContext, rep: TargetReport, ro: RawTlsOptions): string {
  const c = ctx.c;
  const color = (o: string) => (answered(o) || o === 'answered' ? c.green(o) : c.red(o));
  const out: string[] = [`${rep.target} (${rep.address} port ${rep.port}${rep.serverName ? `, sni ${rep.serverName}` : ''})`];
  if (rep.attempts) {
    out.push(`raw ClientHello (${rep.attempts[0]?.helloBytes ?? '-'} bytes):`);
    rep.attempts.forEach((a, i) => out.push(`  #${i + 1} ${color(a.outcome)}  ${describeAttempt(a).slice(a.outcome.length + 2)}`));
  }
  if (rep.groups) {
    out.push('groups (one ClientHello each, that group alone with its key share):');
    const w = Math.max(...Object.keys(rep.groups).map((k) => k.length));
    for (const [g, v] of Object.entries(rep.groups)) out.push(`  ${g.padEnd(w)}  ${v.startsWith('ok') ? c.green(v) : c.red(v)}`);
  }
  if (rep.helloSizes) {
    const h = rep.helloSizes;
    out.push(`large ClientHello (${offerLine(classicalOffer(ro.offer)).replace(/^offer: /, '')}):`);
    out.push(`  small ${h.small.helloBytes} bytes  ${describeAttempt(h.small)}`);
    out.push(`  large ${h.large.helloBytes} bytes  ${describeAttempt(h.large)}`);
    out.push(`  ${color(h.verdict)}: ${h.cause}`);
  }
  return out.join('\n') + '\n';
}

/** Runs the raw modes over the resolved targets, prints, and sets the exit code (0 all answered, 2 nothing answered, else 1). */
export async function runRawTls(
  ctx: CliContext,
  targets: TargetRef<TlsTarget>[],
  ro: RawTlsOptions,
  label: string,
  json: boolean,
): Promise<void> {
  const startedAt = new Date().toISOString();
  const io = { timeoutMs: ro.timeoutMs, signal: ctx.stop, ...(ro.family ? { family: ro.family } : {}) };
  const reports: TargetReport[] = [];
  let good = 0;
  let bad = 0;
  if (!json)
    await write(
      ctx.stdout,
      fitText(
        `CONNDX TLS RAW ${label} (${ro.raw ? `count ${ro.count}, ` : ''}timeout ${fmtSeconds(ro.timeoutMs)})\n${offerLine(ro.offer)}\n`,
      ),
    );
  for (const { key, target: t } of targets) {
    if (ctx.stop.aborted) break;
    const rt = { host: t.host, port: t.port, ...(t.serverName ? { serverName: t.serverName } : {}) };
    const rep: TargetReport = { target: key, address: t.host, port: t.port, serverName: t.serverName ?? null, outcomes: {} };
    const count = (o: string) => {
      rep.outcomes[o] = (rep.outcomes[o] ?? 0) + 1;
    };
    if (ro.raw) {
      rep.attempts = [];
      for (let i = 0; i < ro.count && !ctx.stop.aborted; i++) {
        const r = await rawHelloOnce(rt, ro.offer, io);
        rep.attempts.push(r);
        count(r.outcome);
        if (answered(r.outcome)) good++;
        else bad++;
      }
    }
    if (ro.groups && !ctx.stop.aborted) {
      const { matrix } = await probeGroups(rt, ro.offer, ro.matrix, io);
      rep.groups = matrix;
      const values = Object.values(matrix);
      for (const v of values) count(v.startsWith('ok') ? 'ok' : v);
      // A refused group is a finding, not a failure; no group at all is.
      if (values.some((v) => v.startsWith('ok'))) good++;
      else bad++;
    }
    if (ro.largeHello && !ctx.stop.aborted) {
      const h = await compareHelloSizes(rt, ro.offer, ro.largeSize, io);
      rep.helloSizes = h;
      count(h.verdict);
      if (h.verdict === 'answered') good++;
      else bad++;
    }
    reports.push(rep);
    if (!json) await write(ctx.stdout, fitText(render(ctx, rep, ro)));
  }
  if (json) {
    const outcomes: Record<string, number> = {};
    for (const r of reports) for (const [k, v] of Object.entries(r.outcomes)) outcomes[k] = (outcomes[k] ?? 0) + v;
    const offer = {
      groups: ro.offer.groups.map(groupName),
      keyShares: ro.offer.keyShares.map(groupName),
      versions: ro.offer.versions.map(tlsVersionName),
      alpn: ro.offer.alpn ?? null,
      grease: ro.offer.grease,
      helloSize: ro.offer.helloSize ?? null,
    };
    const body =
      reports.length === 1
        ? { ...reports[0]!, outcomes }
        : { target: label, outcomes, byTarget: Object.fromEntries(reports.map((r) => [r.target, r])) };
    const result = {
      probe: 'tls',
      mode: 'raw',
      offer,
      ...body,
      ...(ctx.stop.aborted ? { interrupted: true } : {}),
      meta: makeMeta(ctx.argv, startedAt),
    };
    await write(ctx.stdout, JSON.stringify(result, null, 2) + '\n');
  }
  ctx.exitCode = bad === 0 ? 0 : good === 0 ? 2 : 1;
}
