import { readInputTextSync } from '../input.js';
import { dirname, resolve as resolvePath } from 'node:path';
import { isMap, isPair, isScalar, LineCounter, parseDocument, type Document } from 'yaml';
import { z } from 'zod';
import { ConndxError } from '../errors.js';
import { parseTlsVersion, TLS_VERSIONS, type TlsVersion } from '../core/tls.js';
import { DURATION_MAX_MS, isValidHostName, parseDuration, parseHostPort } from '../parse.js';
import { QTYPES, RCODE_LIST } from '../core/dns.js';
import { validateDnsExtras, type DnsCheckExtras } from './dns-options.js';
import { PROBERS, type KindName } from '../probes/registry.js';
import { optionsFromYaml, type KindOption, type OptionType, type ProbeKind as Kind } from '../probes/kinds/kind.js';
import type { TcpCheckSettings } from '../probes/kinds/tcp.js';
import type { TlsCheckSettings } from '../probes/kinds/tls.js';
import type { HttpCheckSettings } from '../probes/kinds/http.js';

const KINDS = PROBERS as Record<string, Kind>;
/**
 * The kinds a check can run: every kind of the registry with checks (its
 * `check` member; dns, whose settings src/checks/dns-options.ts reads, too).
 */
export const PROBE_KINDS = (Object.keys(PROBERS) as KindName[]).filter((k) => k === 'dns' || KINDS[k]!.check);
export type ProbeKind = KindName;
export const TLS_VERSION_NAMES = TLS_VERSIONS;
export type TlsVersionName = TlsVersion;
/** RCODE names a `rcode` threshold may list (RFC 1035 §4.1.1, RFC 6895 §2.3). */
export const RCODE_NAMES: readonly string[] = RCODE_LIST;

/** Defaults that keep one check run short: a few attempts, all in flight at once. */
export const CHECK_DEFAULTS = {
  count: 3,
  timeoutMs: 3000,
  intervalMs: 60_000,
  maxCount: 1000,
  maxTimeoutMs: 60_000,
  minIntervalMs: 1000,
} as const;

export interface Thresholds {
  /** Fraction 0..1 of attempts that must succeed. */
  successRate?: number;
  /** Latency of the probe's own phase, ms. */
  p50?: number;
  p90?: number;
  p99?: number;
  minTlsVersion?: TlsVersionName;
  certDaysLeft?: number;
  /** Accepted RCODE names. */
  rcode?: string[];
}

export interface DnsSettings {
  servers: string[];
  type: string;
  qtype: number;
  tcp: boolean;
  noFallback: boolean;
  /** EDNS, --random-label and DoT/DoH settings (src/checks/dns-options.ts). */
  extras?: DnsCheckExtras;
}
/** A tcp check's settings: the tcp kind's (src/probes/kinds/tcp.ts). */
export type TcpSettings = TcpCheckSettings;
/** A tls check's settings: the tls kind's (src/probes/kinds/tls.ts). */
export type TlsSettings = TlsCheckSettings;
/** An http check's settings: the http kind's (src/probes/kinds/http.ts). */
export type HttpSettings = HttpCheckSettings;

export interface CheckSpec {
  name: string;
  probe: ProbeKind;
  /** As written in the config. */
  target: string;
  count: number;
  concurrency: number;
  timeoutMs: number;
  retries: number;
  breaker?: number;
  family: 0 | 4 | 6;
  intervalMs: number;
  dns?: DnsSettings;
  tcp?: TcpSettings;
  tls?: TlsSettings;
  http?: HttpSettings;
  expect: Thresholds;
  warn: Thresholds;
  /** 1-based line of the check in the file. */
  line: number;
}

export interface ChecksConfig {
  file: string;
  checks: CheckSpec[];
  /** `serve:` settings: `debug: true` lets /probe?debug=true answer (it shows results in full). */
  serve?: { debug?: boolean };
}

/** One problem in a config file, located. */
export interface ConfigIssue {
  file: string;
  line: number;
  column: number;
  /** Path of the field, e.g. checks[1].expect.p99. */
  field: string;
  message: string;
}

export function formatIssue(i: ConfigIssue): string {
  // A file that could not be read has no line to point at: its name alone, not "file:0:0".
  const at = i.line > 0 ? `${i.file}:${i.line}:${i.column}` : i.file;
  return `${at}: ${i.field ? `${i.field}: ` : ''}${i.message}`;
}

/** A config that cannot be used: every problem found, each naming file:line:field. */
export class ConfigError extends ConndxError {
  readonly issues: ConfigIssue[];
  constructor(issues: ConfigIssue[]) {
    const first = issues[0] ? formatIssue(issues[0]) : 'bad config';
    super(
      'CONNDX_BAD_CONFIG',
      issues.length > 1 ? `${first} (and ${issues.length - 1} more problem${issues.length > 2 ? 's' : ''})` : first,
    );
    this.name = 'ConfigError';
    this.issues = issues;
  }
}

// ---------------------------------------------------------------------------
// Shape (zod): types and which keys exist. Values are checked after, with the same locations.

const num = z.number({ error: (i) => (i.input === undefined ? 'required' : `expected a number, got ${describe(i.input)}`) });
const str = z.string({ error: (i) => (i.input === undefined ? 'required' : `expected a string, got ${describe(i.input)}`) });
const bool = z.boolean({ error: (i) => `expected true or false, got ${describe(i.input)}` });
const strOrList = z.union([str, z.array(str)], { error: (i) => `expected a string or a list of strings, got ${describe(i.input)}` });
const durationLike = z.union([str, num], { error: (i) => `expected a duration such as 250ms, 2s, 1m, got ${describe(i.input)}` });

const thresholdsShape = z.object(
  {
    successRate: num.optional(),
    p50: durationLike.optional(),
    p90: durationLike.optional(),
    p99: durationLike.optional(),
    minTlsVersion: str.optional(),
    certDaysLeft: num.optional(),
    rcode: strOrList.optional(),
  },
  { error: (i) => (i.code === 'invalid_type' ? `expected a mapping of thresholds, got ${describe(i.input)}` : undefined) },
);

/** The dns keys of src/checks/dns-options.ts: a check without any of them keeps the plain settings shape. */
const DNS_EXTRA_KEYS = [
  'transport',
  'ednsSize',
  'edns',
  'dnssec',
  'nsid',
  'ecs',
  'cookie',
  'randomLabel',
  'reuse',
  'method',
  'http1',
  'sni',
  'ca',
  'insecure',
] as const;

/** The keys every check takes, whatever its kind (src/cli/probe-options.ts has the same as flags). */
const SHARED_SHAPE = {
  count: num.optional(),
  concurrency: num.optional(),
  timeout: durationLike.optional(),
  retries: num.optional(),
  breaker: num.optional(),
  family: num.optional(),
  interval: durationLike.optional(),
};

const statuses = z.union([str, num, z.array(z.union([str, num]))], {
  error: (i) => `expected statuses such as 200-299,301 or a list of them, got ${describe(i.input)}`,
});
const TYPE_SHAPES: Record<OptionType, z.ZodType> = {
  string: str,
  boolean: bool,
  number: num,
  duration: durationLike,
  stringOrList: strOrList,
  statuses,
};

/** Each check key of a kind's option table → the kinds that own it (a key another kind borrows, as dns's sni, names its owner). */
const OWNERS = new Map<string, KindName[]>();
/** Each check key → the kinds whose table has it (owned or borrowed). */
const TAKERS = new Map<string, KindName[]>();
const OPTION_SHAPES: Record<string, z.ZodType> = {};
for (const k of PROBE_KINDS) {
  for (const o of KINDS[k]!.options as readonly KindOption[]) {
    if (o.yaml === undefined || o.type === undefined) continue;
    TAKERS.set(o.yaml, [...(TAKERS.get(o.yaml) ?? []), k]);
    if (!o.borrowed) OWNERS.set(o.yaml, [...(OWNERS.get(o.yaml) ?? []), k]);
    OPTION_SHAPES[o.yaml] ??= TYPE_SHAPES[o.type].optional();
  }
}

/** `<kind>: TARGET` for every kind a check runs; a key that is a kind and an option (tcp) takes both forms. */
const TARGET_SHAPES: Record<string, z.ZodType> = {};
for (const k of PROBE_KINDS) {
  TARGET_SHAPES[k] = OPTION_SHAPES[k]
    ? // `tcp: true` is the dns option (query over TCP); a string is the tcp probe's target.
      z
        .union([str, bool], { error: (i) => `expected host:port (a tcp check) or true/false (dns over TCP), got ${describe(i.input)}` })
        .optional()
    : str.optional();
}

const checkShape = z.object(
  {
    name: str,
    ...TARGET_SHAPES,
    ...SHARED_SHAPE,
    ...Object.fromEntries(Object.entries(OPTION_SHAPES).filter(([k]) => !(k in TARGET_SHAPES))),
    expect: thresholdsShape.optional(),
    warn: thresholdsShape.optional(),
  },
  { error: (i) => (i.code === 'invalid_type' ? `expected a mapping (a check), got ${describe(i.input)}` : undefined) },
);

/** The target word of each kind in messages. */
const TARGET_WORDS: Record<string, string> = { dns: 'NAME', http: 'URL' };
const targetWord = (k: string) => TARGET_WORDS[k] ?? 'HOST:PORT';
const orList = (xs: readonly string[]) => (xs.length < 2 ? xs.join('') : `${xs.slice(0, -1).join(', ')} or ${xs[xs.length - 1]}`);

const fileShape = z.strictObject(
  {
    checks: z
      .array(z.unknown(), {
        error: (i) => (i.input === undefined ? 'required: a list of checks' : `expected a list of checks, got ${describe(i.input)}`),
      })
      .min(1, { error: 'the list is empty: give at least one check' }),
    serve: z.strictObject({ debug: z.boolean({ error: 'expected true or false' }).optional() }).optional(),
  },
  { error: (i) => (i.code === 'invalid_type' ? `expected a mapping with a "checks" list, got ${describe(i.input)}` : undefined) },
);

const CHECK_KEYS = new Set(Object.keys(checkShape.shape));

/** Every key a check may have (for the test that each kind's key comes from its kind's table). */
export const checkKeys = (): string[] => [...CHECK_KEYS];
/** The keys every check takes whatever its kind. */
export const SHARED_CHECK_KEYS: readonly string[] = ['name', ...Object.keys(SHARED_SHAPE), 'expect', 'warn'];
const THRESHOLD_KEYS = new Set(Object.keys(thresholdsShape.shape));

/** Keys the schema does not know, so that a typo is reported with the other problems, not instead of them. */
function unknownKeys(raw: unknown): PathKey[][] {
  const out: PathKey[][] = [];
  const isObj = (v: unknown): v is Record<string, unknown> => !!v && typeof v === 'object' && !Array.isArray(v);
  if (!isObj(raw)) return out;
  for (const k of Object.keys(raw)) if (!CHECK_KEYS.has(k)) out.push([k]);
  for (const t of ['expect', 'warn']) {
    const v = raw[t];
    if (isObj(v)) for (const k of Object.keys(v)) if (!THRESHOLD_KEYS.has(k)) out.push([t, k]);
  }
  return out;
}

type RawCheck = Record<string, unknown> & {
  name: string;
  count?: number;
  concurrency?: number;
  timeout?: string | number;
  retries?: number;
  breaker?: number;
  family?: number;
  interval?: string | number;
  server?: string | string[];
  type?: string;
  noFallback?: boolean;
  expect?: RawThresholds;
  warn?: RawThresholds;
};
type RawThresholds = z.infer<typeof thresholdsShape>;

function describe(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'a list';
  if (typeof v === 'object') return 'a mapping';
  if (typeof v === 'string') return `"${v.length > 40 ? `${v.slice(0, 40)}…` : v}"`;
  return String(v);
}

// ---------------------------------------------------------------------------
// Locations

type PathKey = string | number;

function fieldName(path: readonly PathKey[]): string {
  let out = '';
  for (const k of path) out += typeof k === 'number' ? `[${k}]` : out ? `.${k}` : k;
  return out;
}

function locator(file: string, doc: Document, lc: LineCounter) {
  const at = (offset: number) => {
    const p = lc.linePos(offset);
    return { line: p.line, column: p.col };
  };
  /** The node at `path`, or the closest ancestor that exists; `key` points at a mapping key instead of its value. */
  return (path: readonly PathKey[], opts: { key?: boolean } = {}): { line: number; column: number } => {
    let node: unknown = doc.contents;
    let best = { line: 1, column: 1 };
    if (node && typeof node === 'object' && 'range' in node && Array.isArray((node as { range?: number[] }).range))
      best = at((node as { range: number[] }).range[0]!);
    for (let i = 0; i < path.length; i++) {
      const k = path[i]!;
      let next: unknown;
      let keyNode: unknown;
      if (isMap(node)) {
        const pair = node.items.find((p) => isPair(p) && isScalar(p.key) && String(p.key.value) === String(k));
        if (pair) {
          next = pair.value;
          keyNode = pair.key;
        }
      } else if (
        node &&
        typeof node === 'object' &&
        'items' in node &&
        Array.isArray((node as { items: unknown[] }).items) &&
        typeof k === 'number'
      ) {
        next = (node as { items: unknown[] }).items[k];
      }
      const last = i === path.length - 1;
      const pick = last && opts.key && keyNode ? keyNode : (next ?? keyNode);
      const range = pick && typeof pick === 'object' && 'range' in pick ? (pick as { range?: number[] }).range : undefined;
      if (!range) break;
      best = at(range[0]!);
      node = next;
      if (!next) break;
    }
    return best;
  };
}

// ---------------------------------------------------------------------------
// Loading

/** Reads and validates a checks file; throws ConfigError naming every problem, or ConndxError for an unreadable file. */
export function loadChecksFile(file: string): ChecksConfig {
  let text: string;
  try {
    text = readInputTextSync(file, 'config', 'the config file');
  } catch (e) {
    throw new ConfigError([
      {
        file,
        line: 0,
        column: 0,
        field: '',
        message: (e as Error).message.replace(/^cannot read the config file "[^"]*": /, 'cannot read the config file: '),
      },
    ]);
  }
  return parseChecks(text, file);
}

/** Parses and validates checks YAML. `file` names the source in messages and anchors relative paths (ca, cert, key). */
export function parseChecks(text: string, file: string): ChecksConfig {
  const lc = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lc, prettyErrors: false, uniqueKeys: true });
  const issues: ConfigIssue[] = [];
  for (const e of doc.errors) {
    const pos = e.linePos?.[0] ?? (e.pos ? lc.linePos(e.pos[0]) : { line: 1, col: 1 });
    issues.push({ file, line: pos.line, column: 'col' in pos ? pos.col : 1, field: '', message: `YAML: ${e.message.split('\n')[0]}` });
  }
  if (issues.length) throw new ConfigError(issues);
  const locate = locator(file, doc, lc);
  const add = (path: readonly PathKey[], message: string, key = false) => {
    const { line, column } = locate(path, { key });
    issues.push({ file, line, column, field: fieldName(path), message });
  };

  let data: unknown;
  try {
    // An alias bomb ("billion laughs") expands past this many alias resolutions; refuse it by name.
    data = doc.toJS({ maxAliasCount: 100 });
  } catch (e) {
    const m = (e as Error).message;
    if (/alias/i.test(m)) {
      throw new ConfigError([
        {
          file,
          line: 1,
          column: 1,
          field: '',
          message: 'YAML: too many alias expansions (an alias bomb?): at most 100 aliases are expanded',
        },
      ]);
    }
    throw new ConfigError([{ file, line: 1, column: 1, field: '', message: `YAML: ${m.split('\n')[0]}` }]);
  }
  if (data === null || data === undefined) {
    throw new ConfigError([{ file, line: 1, column: 1, field: '', message: 'the file is empty: it needs a "checks" list' }]);
  }
  const parsed = fileShape.safeParse(data);
  if (!parsed.success) {
    for (const i of parsed.error.issues) {
      if (i.code === 'unrecognized_keys') {
        for (const k of i.keys) add([...(i.path as PathKey[]), k], unknownKeyMessage(i.path as PathKey[], k), true);
      } else {
        add(i.path as PathKey[], i.message);
      }
    }
    throw new ConfigError(sortIssues(issues));
  }

  const baseDir = dirname(resolvePath(file));
  const names = new Map<string, number>();
  const checks: CheckSpec[] = [];
  parsed.data.checks.forEach((item, idx) => {
    const at = (p: readonly PathKey[]): PathKey[] => ['checks', idx, ...p];
    const extra = unknownKeys(item);
    for (const p of extra) add(at(p), unknownKeyMessage(at(p.slice(0, -1)), String(p[p.length - 1])), true);
    const shaped = checkShape.safeParse(item);
    if (!shaped.success) {
      for (const i of shaped.error.issues) add(at(i.path as PathKey[]), i.message);
      return;
    }
    const raw = shaped.data as RawCheck;
    const spec = validateCheck(raw, idx, (p, m, key) => add(at(p), m, key), baseDir);
    const prev = names.get(raw.name);
    if (prev !== undefined) add(at(['name']), `"${raw.name}" is already the name of checks[${prev}]: names must be unique`);
    else names.set(raw.name, idx);
    if (spec && extra.length === 0) checks.push({ ...spec, line: locate(at([])).line });
  });
  if (issues.length) throw new ConfigError(sortIssues(issues));
  return parsed.data.serve ? { file, checks, serve: { debug: parsed.data.serve.debug } } : { file, checks };
}

function sortIssues(issues: ConfigIssue[]): ConfigIssue[] {
  return [...issues].sort((a, b) => a.line - b.line || a.column - b.column);
}

function unknownKeyMessage(path: readonly PathKey[], key: string): string {
  const where = path[path.length - 1];
  if (where === 'expect' || where === 'warn') {
    const near = [...THRESHOLD_KEYS].find((k) => editDistance(k.toLowerCase(), key.toLowerCase()) <= 2);
    return `unknown threshold "${key}": ${near ? `did you mean "${near}"?` : 'use successRate, p50, p90, p99, minTlsVersion, certDaysLeft or rcode'}`;
  }
  if (path.length === 0) return `unknown key "${key}": the file holds one key, "checks"`;
  const camel = key.replace(/-([a-z])/g, (_m, c: string) => c.toUpperCase());
  if (camel !== key && (CHECK_KEYS.has(camel) || ['expect', 'warn', 'name'].includes(camel)))
    return `unknown key "${key}": write options in camelCase ("${camel}")`;
  // A probe kind conndx has but checks do not run yet: say so, rather than suggest a look-alike key.
  if (key in PROBERS && !CHECK_KEYS.has(key))
    return `"${key}" checks are not supported yet: check the port with tcp: or tls:, or run conndx diagnose for the ${key} phase`;
  const near = [...CHECK_KEYS].find((k) => editDistance(k.toLowerCase(), key.toLowerCase()) <= 2);
  if (near) return `unknown key "${key}": did you mean "${near}"?`;
  return `unknown key "${key}": a check has name, one of ${PROBE_KINDS.join('/')}, that probe's options, interval, expect and warn`;
}

function editDistance(a: string, b: string): number {
  if (Math.abs(a.length - b.length) > 2) return 3;
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++) cur[j] = Math.min(prev[j]! + 1, cur[j - 1]! + 1, prev[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    prev = cur;
  }
  return prev[b.length]!;
}

type Add = (path: PathKey[], message: string, key?: boolean) => void;

function validateCheck(raw: RawCheck, idx: number, add: Add, baseDir: string): Omit<CheckSpec, 'line'> | null {
  const before = { n: 0 };
  const err: Add = (p, m, k) => {
    before.n++;
    add(p, m, k);
  };
  if (!/^[A-Za-z0-9_.:-]{1,100}$/.test(raw.name)) {
    err(['name'], `bad name "${raw.name}": use letters, digits and . _ - : (it becomes a label and a perfdata name)`);
  }

  // Which probe: `tcp: true/false` is the dns option, not a tcp check.
  const kinds = PROBE_KINDS.filter((k) => typeof raw[k] === 'string');
  if (kinds.length === 0) {
    err([], `names no probe: give one of ${orList(PROBE_KINDS.map((k) => `${k}: ${targetWord(k)}`))}`);
    return null;
  }
  if (kinds.length > 1) {
    err([kinds[1]!], `a check runs one probe: it has ${kinds.join(' and ')}; split it into ${kinds.length} checks`, true);
    return null;
  }
  const probe = kinds[0]!;
  const target = raw[probe] as string;
  const kind = KINDS[probe]!;
  for (const [opt, owners] of OWNERS) {
    if (raw[opt] === undefined || TAKERS.get(opt)?.includes(probe) || opt === probe) continue;
    err([opt], `"${opt}" is an option of ${orList(owners)} checks, not of ${probe} checks`, true);
  }

  // Target
  if (probe === 'dns') {
    if (!(isValidHostName(target) || target === '.')) err([probe], `bad name "${target}": not a valid DNS name`);
  } else {
    try {
      if (kind.generic) kind.generic.parseTarget(target);
      else parseHostPort(target, kind.defaultPort);
    } catch (e) {
      err([probe], (e as Error).message);
    }
  }

  const int = (key: string, v: number | undefined, min: number, max: number): number | undefined => {
    if (v === undefined) return undefined;
    if (!Number.isInteger(v) || v < min || v > max) {
      err([key], `expected a whole number from ${min} to ${max}, got ${v}`);
      return undefined;
    }
    return v;
  };
  const dur = (path: PathKey[], v: string | number | undefined, opts: { min?: number; max?: number } = {}): number | undefined => {
    if (v === undefined) return undefined;
    if (typeof v === 'number') {
      err(path, `write a unit: "${v}ms" or "${v}s"`);
      return undefined;
    }
    let ms: number;
    try {
      ms = parseDuration(v, String(path[path.length - 1]));
    } catch (e) {
      err(path, (e as Error).message);
      return undefined;
    }
    if (opts.min !== undefined && ms < opts.min) {
      err(path, `${v} is too short: at least ${opts.min} ms`);
      return undefined;
    }
    if (opts.max !== undefined && ms > opts.max) {
      err(path, `${v} is too long: at most ${opts.max / 1000}s`);
      return undefined;
    }
    return ms;
  };

  const count = int('count', raw.count, 1, CHECK_DEFAULTS.maxCount) ?? CHECK_DEFAULTS.count;
  const concurrency = int('concurrency', raw.concurrency, 1, 1000) ?? count;
  const retries = int('retries', raw.retries, 0, 10) ?? 0;
  const breaker = int('breaker', raw.breaker, 1, 1_000_000);
  let family: 0 | 4 | 6 = 0;
  if (raw.family !== undefined) {
    if (raw.family === 4 || raw.family === 6) family = raw.family;
    else err(['family'], `expected 4 or 6, got ${raw.family}`);
  }
  const timeoutMs = dur(['timeout'], raw.timeout, { min: 1, max: CHECK_DEFAULTS.maxTimeoutMs }) ?? CHECK_DEFAULTS.timeoutMs;
  const intervalMs =
    dur(['interval'], raw.interval, { min: CHECK_DEFAULTS.minIntervalMs, max: 24 * 3_600_000 }) ?? CHECK_DEFAULTS.intervalMs;

  const spec: Omit<CheckSpec, 'line'> = {
    name: raw.name,
    probe,
    target,
    count,
    concurrency,
    timeoutMs,
    retries,
    breaker,
    family,
    intervalMs,
    expect: {},
    warn: {},
  };

  if (probe === 'dns') {
    const servers = raw.server === undefined ? [] : Array.isArray(raw.server) ? raw.server : [raw.server];
    // host:port, tls://host[:port] or https://host/path: each read with the transport its scheme names.
    const extras = validateDnsExtras(raw, err, baseDir);
    if (new Set(servers).size !== servers.length) err(['server'], 'a server is listed twice');
    const type = (raw.type ?? 'A').toUpperCase();
    let qtype = QTYPES[type];
    if (qtype === undefined) {
      const m = /^TYPE(\d{1,5})$/.exec(type);
      if (m && Number(m[1]) < 65536) qtype = Number(m[1]);
      else err(['type'], `unknown record type "${raw.type}": use ${Object.keys(QTYPES).join(', ')} or TYPEnnn`);
    }
    const plain = DNS_EXTRA_KEYS.every((k) => raw[k] === undefined) && servers.every((x) => !x.includes('://'));
    spec.dns = {
      servers,
      type,
      qtype: qtype ?? 1,
      tcp: extras.transport === 'tcp',
      noFallback: raw.noFallback === true,
      ...(plain ? {} : { extras }),
    };
  } else if (kind.check) {
    // The kind reads its own keys (its option table) into its settings: CheckSpec[kind].
    const values = optionsFromYaml(kind.options, raw, err);
    (spec as unknown as Record<string, unknown>)[probe] = kind.check.settings(values, err, { target, baseDir });
  }

  spec.expect = validateThresholds(raw.expect, ['expect'], probe, err);
  spec.warn = validateThresholds(raw.warn, ['warn'], probe, err);
  return before.n ? null : spec;
}

export function parseTlsVersionName(text: string): TlsVersionName | undefined {
  return parseTlsVersion(String(text)) ?? undefined;
}

function validateThresholds(raw: RawThresholds | undefined, base: PathKey[], probe: ProbeKind, err: Add): Thresholds {
  const t: Thresholds = {};
  if (!raw) return t;
  if (raw.successRate !== undefined) {
    if (raw.successRate < 0 || raw.successRate > 1)
      err([...base, 'successRate'], `expected a fraction from 0 to 1 (0.99 for 99%), got ${raw.successRate}`);
    else t.successRate = raw.successRate;
  }
  for (const p of ['p50', 'p90', 'p99'] as const) {
    const v = raw[p];
    if (v === undefined) continue;
    if (typeof v === 'number') {
      err([...base, p], `write a unit: "${v}ms"`);
      continue;
    }
    try {
      t[p] = parseDuration(v, p, { max: DURATION_MAX_MS.threshold });
    } catch (e) {
      err([...base, p], (e as Error).message);
    }
  }
  if (raw.minTlsVersion !== undefined) {
    if (probe !== 'tls') err([...base, 'minTlsVersion'], 'minTlsVersion applies to tls checks only', true);
    else {
      const v = parseTlsVersionName(raw.minTlsVersion);
      if (!v) err([...base, 'minTlsVersion'], `bad minTlsVersion "${raw.minTlsVersion}": use TLSv1.2 or TLSv1.3`);
      else t.minTlsVersion = v;
    }
  }
  if (raw.certDaysLeft !== undefined) {
    if (probe !== 'tls') err([...base, 'certDaysLeft'], 'certDaysLeft applies to tls checks only', true);
    else if (!Number.isInteger(raw.certDaysLeft) || raw.certDaysLeft < 0)
      err([...base, 'certDaysLeft'], `expected a whole number of days, got ${raw.certDaysLeft}`);
    else t.certDaysLeft = raw.certDaysLeft;
  }
  if (raw.rcode !== undefined) {
    if (probe !== 'dns') err([...base, 'rcode'], 'rcode applies to dns checks only', true);
    else {
      const list = (Array.isArray(raw.rcode) ? raw.rcode : [raw.rcode]).map((r) => r.toUpperCase());
      const bad = list.filter((r) => !(RCODE_NAMES as readonly string[]).includes(r));
      if (bad.length || list.length === 0)
        err([...base, 'rcode'], `unknown rcode ${bad.map((b) => `"${b}"`).join(', ') || '(empty)'}: use ${RCODE_NAMES.join(', ')}`);
      else t.rcode = list;
    }
  }
  return t;
}
