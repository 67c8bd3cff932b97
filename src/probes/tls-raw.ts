import { createDiffieHellman, createECDH, generateKeyPairSync, randomBytes, randomInt } from 'node:crypto';
import type * as net from 'node:net';
import { isIP } from 'node:net';
import { now } from '../core/clock.js';
import {
  alertName,
  cipherSuiteName,
  FFDHE_PRIMES,
  GREASE_VALUES,
  GROUP_SECP256R1,
  GROUP_X25519,
  GROUP_X25519MLKEM768,
  groupByCode,
  groupName,
  HRR_RANDOM,
  isGrease,
  TLS_EXT,
  TLS_SIGNATURE_SCHEMES,
  tlsVersionName,
} from '../core/tls.js';
import type { HELLO_SIZE_VERDICTS } from '../core/types.js';
import { connectTcp } from './tcp.js';

/**
 * The raw ClientHello prober: conndx writes the ClientHello bytes itself
 * (versions, cipher suites, groups including X25519MLKEM768 and GREASE, key
 * shares, SNI, ALPN, padding to a chosen size) and reads what comes back
 * without finishing the handshake: the ServerHello's selected version,
 * cipher suite and group, a HelloRetryRequest and the group it asks for, or
 * an alert, a reset, a FIN or silence. Node's OpenSSL cannot offer the
 * post-quantum hybrids, and cannot be told to send a ClientHello of a chosen
 * size; this can.
 */

export interface RawHelloOffer {
  /** Sent as server_name (names only; none for an address or when absent). */
  serverName?: string;
  alpn?: string[];
  /** supported_versions, highest first (wire numbers). TLS 1.2 alone sends no supported_versions and no key_share. */
  versions: number[];
  cipherSuites: number[];
  /** supported_groups, in the client's preference order. */
  groups: number[];
  /** Groups to send a key share for (each must also be in `groups`). */
  keyShares: number[];
  /** GREASE (RFC 8701) in cipher suites, groups, key shares, versions and extensions. */
  grease: boolean;
  /** Pad the ClientHello record (5-byte header included) to this many bytes with the padding extension. */
  helloSize?: number;
}

export const RAW_DEFAULT_VERSIONS = [0x0304, 0x0303];
export const RAW_DEFAULT_CIPHERS = [
  0x1301, 0x1302, 0x1303, 0xc02b, 0xc02f, 0xc02c, 0xc030, 0xcca9, 0xcca8, 0xc013, 0xc014, 0x009c, 0x009d, 0x002f, 0x0035,
];
/** What a 2025 browser offers: the hybrid first, then the classical groups; shares for the hybrid and X25519. */
export const RAW_DEFAULT_GROUPS = [GROUP_X25519MLKEM768, GROUP_X25519, GROUP_SECP256R1, 0x0018];
export const RAW_DEFAULT_SHARES = [GROUP_X25519MLKEM768, GROUP_X25519];
/** The groups `--groups` tries, one handshake each. */
export const RAW_MATRIX_GROUPS = [0x001d, 0x0017, 0x0018, 0x0019, 0x001e, 0x0100, 0x11ec, 0x11eb];

/** The largest ClientHello the prober writes in one record (RFC 8446 section 5.1: 2^14 bytes of payload). */
export const RAW_MAX_HELLO_SIZE = 5 + 16_384;
/** A ClientHello this size or more does not fit one Ethernet segment (MSS 1460): `--large-hello`'s default. */
export const LARGE_HELLO_DEFAULT = 1800;
/** The payload of one TCP segment on a 1500-byte MTU path (IPv4, no options). */
export const ONE_SEGMENT_BYTES = 1460;

export function defaultOffer(over: Partial<RawHelloOffer> = {}): RawHelloOffer {
  return {
    versions: RAW_DEFAULT_VERSIONS,
    cipherSuites: RAW_DEFAULT_CIPHERS,
    groups: RAW_DEFAULT_GROUPS,
    keyShares: RAW_DEFAULT_SHARES,
    grease: true,
    ...over,
  };
}

// ---------------------------------------------------------------------------
// Building the ClientHello

const u8 = (n: number) => Buffer.from([n & 0xff]);
const u16 = (n: number) => Buffer.from([(n >> 8) & 0xff, n & 0xff]);
const u24 = (n: number) => Buffer.from([(n >> 16) & 0xff, (n >> 8) & 0xff, n & 0xff]);
const vec8 = (b: Buffer) => Buffer.concat([u8(b.length), b]);
const vec16 = (b: Buffer) => Buffer.concat([u16(b.length), b]);
const list16 = (xs: readonly number[]) => Buffer.concat(xs.map(u16));
const ext = (type: number, body: Buffer) => Buffer.concat([u16(type), vec16(body)]);

/**
 * A well-formed ML-KEM encapsulation key of `k` polynomials (FIPS 203
 * section 7.2): 256 coefficients below q = 3329 each, packed 12 bits apiece,
 * then a 32-byte seed. A random one passes a server's modulus check; the
 * prober never decapsulates, so it needs no private key.
 */
export function mlkemEncapsulationKey(k: number): Buffer {
  const out = Buffer.alloc(384 * k + 32);
  for (let i = 0; i < 128 * k; i++) {
    const a = randomInt(3329);
    const b = randomInt(3329);
    out[3 * i] = a & 0xff;
    out[3 * i + 1] = (a >> 8) | ((b & 0x0f) << 4);
    out[3 * i + 2] = b >> 4;
  }
  randomBytes(32).copy(out, 384 * k);
  return out;
}

function x25519Public(type: 'x25519' | 'x448'): Buffer {
  const pair = type === 'x25519' ? generateKeyPairSync('x25519') : generateKeyPairSync('x448');
  const der = pair.publicKey.export({ type: 'spki', format: 'der' });
  return der.subarray(der.length - (type === 'x25519' ? 32 : 56));
}

const ecPublic = (curve: string) => createECDH(curve).generateKeys();

/** A client key share for a group: real public keys for the classical groups, a well-formed ML-KEM key for the hybrids. */
export function keyShareFor(code: number): Buffer {
  switch (code) {
    case 0x001d:
      return x25519Public('x25519');
    case 0x001e:
      return x25519Public('x448');
    case 0x0017:
      return ecPublic('prime256v1');
    case 0x0018:
      return ecPublic('secp384r1');
    case 0x0019:
      return ecPublic('secp521r1');
    case 0x11ec:
      return Buffer.concat([mlkemEncapsulationKey(3), x25519Public('x25519')]);
    case 0x11eb:
      return Buffer.concat([ecPublic('prime256v1'), mlkemEncapsulationKey(3)]);
    case 0x11ed:
      return Buffer.concat([ecPublic('secp384r1'), mlkemEncapsulationKey(4)]);
  }
  const prime = FFDHE_PRIMES[code];
  const row = groupByCode(code);
  if (prime && row) {
    // A real FFDHE public value: a random one fails a server's subgroup check about half the time.
    const y = createDiffieHellman(Buffer.from(prime, 'hex'), 2).generateKeys();
    return Buffer.concat([Buffer.alloc(row.shareLength - y.length), y]);
  }
  return Buffer.from([0]); // GREASE and unknown groups: one byte, as browsers send
}

export interface BuiltHello {
  record: Buffer;
  /** Bytes of the padding extension's body (0 when none was added). */
  padding: number;
  /** The GREASE values this hello used (null without GREASE). */
  grease: { cipher: number; group: number; version: number; ext1: number; ext2: number } | null;
}

/** The ClientHello record for an offer (one record; `helloSize` beyond RAW_MAX_HELLO_SIZE is cut to it). */
export function buildClientHello(o: RawHelloOffer): BuiltHello {
  const pick = () => GREASE_VALUES[randomInt(GREASE_VALUES.length)]!;
  const g = o.grease ? { cipher: pick(), group: pick(), version: pick(), ext1: pick(), ext2: pick() } : null;
  if (g && g.ext2 === g.ext1) g.ext2 = g.ext1 ^ 0x1010;
  const tls13 = o.versions.includes(0x0304);
  const exts: Buffer[] = [];
  if (g) exts.push(ext(g.ext1, Buffer.alloc(0)));
  if (o.serverName && isIP(o.serverName) === 0) {
    const name = Buffer.from(o.serverName, 'latin1');
    exts.push(ext(TLS_EXT.serverName, vec16(Buffer.concat([u8(0), vec16(name)]))));
  }
  exts.push(ext(TLS_EXT.extendedMasterSecret, Buffer.alloc(0)));
  exts.push(ext(TLS_EXT.renegotiationInfo, Buffer.from([0])));
  exts.push(ext(TLS_EXT.supportedGroups, vec16(list16([...(g ? [g.group] : []), ...o.groups]))));
  exts.push(ext(TLS_EXT.ecPointFormats, Buffer.from([1, 0])));
  exts.push(ext(TLS_EXT.sessionTicket, Buffer.alloc(0)));
  if (o.alpn?.length) {
    exts.push(ext(TLS_EXT.alpn, vec16(Buffer.concat(o.alpn.map((p) => vec8(Buffer.from(p, 'latin1')))))));
  }
  exts.push(ext(TLS_EXT.signatureAlgorithms, vec16(list16(TLS_SIGNATURE_SCHEMES))));
  if (tls13) {
    const shares = [...(g ? [g.group] : []), ...o.keyShares].map((c) => {
      const key = isGrease(c) ? Buffer.from([0]) : keyShareFor(c);
      return Buffer.concat([u16(c), vec16(key)]);
    });
    exts.push(ext(TLS_EXT.keyShare, vec16(Buffer.concat(shares))));
    exts.push(ext(TLS_EXT.pskKeyExchangeModes, Buffer.from([1, 1])));
    exts.push(ext(TLS_EXT.supportedVersions, vec8(list16([...(g ? [g.version] : []), ...o.versions]))));
  }
  if (g) exts.push(ext(g.ext2, Buffer.from([0])));

  const head = Buffer.concat([
    u16(0x0303),
    randomBytes(32),
    vec8(randomBytes(32)), // legacy_session_id: a compatibility-mode client sends one (RFC 8446 appendix D.4)
    vec16(list16([...(g ? [g.cipher] : []), ...o.cipherSuites])),
    Buffer.from([1, 0]), // legacy_compression_methods: null only
  ]);
  const assemble = (extensions: Buffer[]) => {
    const body = Buffer.concat([head, vec16(Buffer.concat(extensions))]);
    const hs = Buffer.concat([u8(1), u24(body.length), body]);
    return Buffer.concat([u8(22), u16(0x0301), u16(hs.length), hs]);
  };
  let record = assemble(exts);
  let padding = 0;
  const want = o.helloSize === undefined ? undefined : Math.min(o.helloSize, RAW_MAX_HELLO_SIZE);
  if (want !== undefined && want > record.length) {
    // The padding extension (RFC 7685) costs 4 bytes of header plus its zeros.
    padding = Math.max(0, want - record.length - 4);
    record = assemble([...exts, ext(TLS_EXT.padding, Buffer.alloc(padding))]);
  }
  return { record, padding, grease: g };
}

// ---------------------------------------------------------------------------
// Reading a ClientHello (the lab's endpoints, tests)

export interface ParsedClientHello {
  legacyVersion: number;
  sessionId: Buffer;
  cipherSuites: number[];
  extensions: { type: number; body: Buffer }[];
  serverName: string | null;
  groups: number[];
  keyShares: { group: number; length: number }[];
  versions: number[];
  alpn: string[];
  /** Length from the record header (the payload, without the 5-byte header). */
  recordLength: number;
}

/** A bounds-checked reader; every read throws RangeError past the end, which the parsers turn into null. */
class Reader {
  constructor(
    readonly b: Buffer,
    public o = 0,
    readonly end = b.length,
  ) {}
  need(n: number) {
    if (this.o + n > this.end) throw new RangeError('short');
  }
  u8() {
    this.need(1);
    return this.b[this.o++]!;
  }
  u16() {
    this.need(2);
    const v = this.b.readUInt16BE(this.o);
    this.o += 2;
    return v;
  }
  u24() {
    this.need(3);
    const v = this.b.readUIntBE(this.o, 3);
    this.o += 3;
    return v;
  }
  bytes(n: number) {
    this.need(n);
    const v = this.b.subarray(this.o, this.o + n);
    this.o += n;
    return v;
  }
  sub(n: number) {
    this.need(n);
    const r = new Reader(this.b, this.o, this.o + n);
    this.o += n;
    return r;
  }
  get left() {
    return this.end - this.o;
  }
}

/** Parses one ClientHello record (header included); null when it is not one or is cut short. */
export function parseClientHello(rec: Buffer): ParsedClientHello | null {
  try {
    const r = new Reader(rec);
    if (r.u8() !== 22) return null;
    r.u16();
    const recordLength = r.u16();
    if (r.u8() !== 1) return null;
    const body = r.sub(Math.min(r.u24(), r.left));
    const legacyVersion = body.u16();
    body.bytes(32);
    const sessionId = body.bytes(body.u8());
    const cs = body.sub(body.u16());
    const cipherSuites: number[] = [];
    while (cs.left >= 2) cipherSuites.push(cs.u16());
    body.bytes(body.u8());
    const out: ParsedClientHello = {
      legacyVersion,
      sessionId,
      cipherSuites,
      extensions: [],
      serverName: null,
      groups: [],
      keyShares: [],
      versions: [],
      alpn: [],
      recordLength,
    };
    if (body.left === 0) return out;
    const ex = body.sub(body.u16());
    while (ex.left >= 4) {
      const type = ex.u16();
      const e = ex.sub(ex.u16());
      out.extensions.push({ type, body: e.b.subarray(e.o, e.end) });
      if (type === TLS_EXT.serverName) {
        const l = e.sub(e.u16());
        if (l.u8() === 0) out.serverName = l.bytes(l.u16()).toString('latin1');
      } else if (type === TLS_EXT.supportedGroups) {
        const l = e.sub(e.u16());
        while (l.left >= 2) out.groups.push(l.u16());
      } else if (type === TLS_EXT.keyShare) {
        const l = e.sub(e.u16());
        while (l.left >= 4) {
          const group = l.u16();
          const length = l.u16();
          l.bytes(length);
          out.keyShares.push({ group, length });
        }
      } else if (type === TLS_EXT.supportedVersions) {
        const l = e.sub(e.u8());
        while (l.left >= 2) out.versions.push(l.u16());
      } else if (type === TLS_EXT.alpn) {
        const l = e.sub(e.u16());
        while (l.left >= 1) out.alpn.push(l.bytes(l.u8()).toString('latin1'));
      }
    }
    return out;
  } catch {
    return null;
  }
}

// ---------------------------------------------------------------------------
// Reading the server's first flight

export interface ServerHelloFacts {
  /** True for a HelloRetryRequest (the special random of RFC 8446 section 4.1.3). */
  helloRetry: boolean;
  /** Selected version: supported_versions when present, else legacy_version. */
  version: string;
  versionCode: number;
  cipher: string;
  cipherCode: number;
  /** key_share's group: the server's share, or in a HelloRetryRequest the group it asks for; null without key_share (TLS 1.2). */
  group: string | null;
  groupCode: number | null;
  /** Length of the server's key share (null for a HelloRetryRequest or without key_share). */
  keyShareLength: number | null;
  /** legacy_session_id_echo matches what was sent. */
  sessionIdEchoed: boolean;
}

export type ServerFlight =
  | { kind: 'more' }
  | { kind: 'hello'; hello: ServerHelloFacts }
  | { kind: 'alert'; level: number; description: number }
  | { kind: 'malformed'; cause: string };

/** The largest record a TLS peer may send (RFC 8446 section 5.2: 2^14 + 256). */
const MAX_RECORD = 16_384 + 256;

/**
 * Reads the bytes the server sent so far: a ServerHello (across records if
 * need be), an alert, more needed, or bytes that are not TLS.
 */
export function readServerFlight(buf: Buffer, sentSessionId?: Buffer): ServerFlight {
  let o = 0;
  let hs = Buffer.alloc(0);
  while (buf.length - o >= 5) {
    const type = buf[o]!;
    const major = buf[o + 1]!;
    const len = buf.readUInt16BE(o + 3);
    if (major !== 3 || (type !== 21 && type !== 22 && type !== 20 && type !== 23)) {
      const text = buf.subarray(0, 24).toString('latin1');
      return {
        kind: 'malformed',
        cause: `not a TLS record: ${JSON.stringify(/^[\x20-\x7e\r\n]+$/.test(text) ? text : buf.subarray(0, 8).toString('hex'))}`,
      };
    }
    if (len > MAX_RECORD) return { kind: 'malformed', cause: `a record of ${len} bytes (more than TLS allows)` };
    if (buf.length - o - 5 < len) return { kind: 'more' };
    const body = buf.subarray(o + 5, o + 5 + len);
    o += 5 + len;
    if (type === 21) {
      if (hs.length) return { kind: 'malformed', cause: 'an alert in the middle of the ServerHello' };
      if (body.length < 2) return { kind: 'malformed', cause: 'a short alert record' };
      return { kind: 'alert', level: body[0]!, description: body[1]! };
    }
    if (type !== 22)
      return { kind: 'malformed', cause: `a ${type === 20 ? 'change_cipher_spec' : 'application_data'} record before the ServerHello` };
    hs = Buffer.concat([hs, body]);
    if (hs.length >= 4) {
      if (hs[0] !== 2) return { kind: 'malformed', cause: `handshake message ${hs[0]} where a ServerHello (2) belongs` };
      const need = 4 + hs.readUIntBE(1, 3);
      if (hs.length >= need) return parseServerHello(hs.subarray(4, need), sentSessionId);
    }
  }
  return { kind: 'more' };
}

function parseServerHello(b: Buffer, sentSessionId?: Buffer): ServerFlight {
  try {
    const r = new Reader(b);
    const legacy = r.u16();
    const random = r.bytes(32);
    const sid = r.bytes(r.u8());
    const cipherCode = r.u16();
    r.u8();
    const helloRetry = random.equals(HRR_RANDOM);
    let versionCode = legacy;
    let groupCode: number | null = null;
    let keyShareLength: number | null = null;
    if (r.left >= 2) {
      const ex = r.sub(r.u16());
      while (ex.left >= 4) {
        const type = ex.u16();
        const e = ex.sub(ex.u16());
        if (type === TLS_EXT.supportedVersions) versionCode = e.u16();
        else if (type === TLS_EXT.keyShare) {
          groupCode = e.u16();
          if (!helloRetry) keyShareLength = e.bytes(e.u16()).length;
        }
      }
    }
    return {
      kind: 'hello',
      hello: {
        helloRetry,
        version: tlsVersionName(versionCode),
        versionCode,
        cipher: cipherSuiteName(cipherCode),
        cipherCode,
        group: groupCode === null ? null : groupName(groupCode),
        groupCode,
        keyShareLength,
        sessionIdEchoed: sentSessionId ? sid.equals(sentSessionId) : true,
      },
    };
  } catch {
    return { kind: 'malformed', cause: 'a ServerHello cut short inside its own length' };
  }
}

// ---------------------------------------------------------------------------
// One attempt

export interface RawTarget {
  host: string;
  port: number;
  serverName?: string;
}

export interface RawHelloResult {
  /** `ok` (ServerHello), `hello-retry`, `alert:<name>`, `reset`, `closed`, `timeout`, `protocol-error`, `error`, `tcp:<outcome>`. */
  outcome: string;
  phase: 'tcp' | 'tls';
  tcpConnectMs: number | null;
  /** ClientHello written → the whole ServerHello (or HelloRetryRequest) read. */
  serverHelloMs: number | null;
  /** ClientHello written → the first byte of the answer, whatever it was. */
  firstByteMs: number | null;
  /** Size of the ClientHello record sent (5-byte header included). */
  helloBytes: number;
  serverHello?: ServerHelloFacts;
  alert?: string;
  cause?: string;
  local?: boolean;
}

const r3 = (ms: number | null) => (ms === null ? null : Math.round(ms * 1000) / 1000);

/** Checks a ServerHello against the offer: a server that picks what was not offered broke the protocol. */
function judge(h: ServerHelloFacts, o: RawHelloOffer): string | null {
  if (!o.cipherSuites.includes(h.cipherCode)) return `the server chose cipher suite ${h.cipher}, which was not offered`;
  if (h.versionCode === 0x0304 && !o.versions.includes(0x0304)) return 'the server chose TLSv1.3, which was not offered';
  if (h.groupCode !== null) {
    if (!o.groups.includes(h.groupCode)) return `the server chose group ${h.group}, which was not offered`;
    if (h.helloRetry && o.keyShares.includes(h.groupCode))
      return `a HelloRetryRequest for ${h.group}, whose key share was already sent (RFC 8446 section 4.1.4)`;
    if (!h.helloRetry && !o.keyShares.includes(h.groupCode)) return `a key share for ${h.group}, which the client sent none for`;
    const row = groupByCode(h.groupCode);
    if (!h.helloRetry && row && h.keyShareLength !== row.serverShareLength)
      return `a ${h.group} key share of ${h.keyShareLength} bytes (${row.serverShareLength} expected)`;
  }
  return null;
}

/**
 * One TCP connect, one hand-built ClientHello, and the server's answer read
 * up to the end of its ServerHello; the connection is then closed without
 * finishing the handshake. Never throws for a network outcome.
 */
let warm = false;

/**
 * Runs the reading path once on a canned ServerHello before the first
 * attempt, so the first attempt's time to ServerHello is not the
 * compilation of its own parser.
 */
function warmUp(): void {
  if (warm) return;
  warm = true;
  const sid = Buffer.alloc(32);
  const body = Buffer.concat([
    u16(0x0303),
    Buffer.alloc(32, 1),
    vec8(sid),
    u16(0x1301),
    u8(0),
    vec16(
      Buffer.concat([
        ext(TLS_EXT.supportedVersions, u16(0x0304)),
        ext(TLS_EXT.keyShare, Buffer.concat([u16(GROUP_X25519), vec16(Buffer.alloc(32))])),
      ]),
    ),
  ]);
  const hs = Buffer.concat([u8(2), u24(body.length), body]);
  for (let i = 0; i < 50; i++) {
    const f = readServerFlight(Buffer.concat([u8(22), u16(0x0303), u16(hs.length), hs]), sid);
    if (f.kind === 'hello') judge(f.hello, defaultOffer({ keyShares: [GROUP_X25519], groups: [GROUP_X25519] }));
    readServerFlight(Buffer.from([21, 3, 3, 0, 2, 2, 40]));
  }
}

export async function rawHelloOnce(
  t: RawTarget,
  offer: RawHelloOffer,
  o: { timeoutMs: number; family?: 4 | 6; signal: AbortSignal },
): Promise<RawHelloResult> {
  warmUp();
  const deadline = now() + o.timeoutMs;
  const built = buildClientHello({ ...offer, serverName: offer.serverName ?? t.serverName });
  const helloBytes = built.record.length;
  const sentSid = built.record.subarray(5 + 4 + 2 + 32 + 1, 5 + 4 + 2 + 32 + 1 + 32);
  const tcp = await connectTcp({ host: t.host, port: t.port, timeoutMs: o.timeoutMs, signal: o.signal, family: o.family });
  if (tcp.outcome !== 'ok' || !tcp.socket) {
    return {
      outcome: `tcp:${tcp.outcome}`,
      phase: 'tcp',
      tcpConnectMs: null,
      serverHelloMs: null,
      firstByteMs: null,
      helloBytes,
      ...(tcp.cause ? { cause: tcp.cause } : {}),
      ...(tcp.local ? { local: true } : {}),
    };
  }
  const socket: net.Socket = tcp.socket;
  const tcpConnectMs = tcp.connectMs;
  return new Promise<RawHelloResult>((resolve) => {
    let buf = Buffer.alloc(0);
    let firstByteMs: number | null = null;
    let done = false;
    const base = { phase: 'tls' as const, tcpConnectMs, helloBytes };
    const finish = (
      r: Omit<RawHelloResult, 'phase' | 'tcpConnectMs' | 'helloBytes' | 'firstByteMs' | 'serverHelloMs'> & { serverHelloMs?: number },
    ) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      o.signal.removeEventListener('abort', onAbort);
      socket.removeAllListeners('data');
      socket.on('error', () => {});
      socket.destroy();
      const { outcome, serverHelloMs, ...rest } = r;
      resolve({
        outcome,
        ...base,
        tcpConnectMs: r3(tcpConnectMs),
        serverHelloMs: r3(serverHelloMs ?? null),
        firstByteMs: r3(firstByteMs),
        ...rest,
      });
    };
    const remaining = Math.max(1, deadline - now());
    const timer = setTimeout(
      () =>
        finish({
          outcome: 'timeout',
          cause:
            firstByteMs === null
              ? `no answer to a ${helloBytes}-byte ClientHello within ${Math.round(remaining)} ms`
              : `no complete ServerHello within ${Math.round(remaining)} ms`,
        }),
      remaining,
    );
    const onAbort = () => finish({ outcome: 'timeout', cause: 'aborted while waiting for the ServerHello' });
    o.signal.addEventListener('abort', onAbort, { once: true });
    socket.on('data', (d: Buffer) => {
      const at = now();
      if (firstByteMs === null) firstByteMs = at - t0;
      buf = Buffer.concat([buf, d]);
      const f = readServerFlight(buf, sentSid);
      if (f.kind === 'more') {
        if (buf.length > 4 * MAX_RECORD) finish({ outcome: 'protocol-error', cause: 'no ServerHello in the first 64 KiB' });
        return;
      }
      if (f.kind === 'alert') {
        const name = alertName(f.description);
        return finish({
          outcome: `alert:${name}`,
          alert: name,
          cause: `the server answered the ClientHello with alert ${name} (${f.description})`,
        });
      }
      if (f.kind === 'malformed') return finish({ outcome: 'protocol-error', cause: f.cause });
      const wrong = judge(f.hello, offer);
      if (wrong) return finish({ outcome: 'protocol-error', cause: wrong, serverHello: f.hello, serverHelloMs: at - t0 });
      finish({ outcome: f.hello.helloRetry ? 'hello-retry' : 'ok', serverHello: f.hello, serverHelloMs: at - t0 });
    });
    socket.once('end', () =>
      finish({ outcome: 'closed', cause: `the server closed the connection (FIN) after a ${helloBytes}-byte ClientHello` }),
    );
    socket.on('error', (e: NodeJS.ErrnoException) =>
      finish(
        e.code === 'ECONNRESET' || e.code === 'EPIPE'
          ? { outcome: 'reset', cause: `the server reset the connection (RST) after a ${helloBytes}-byte ClientHello` }
          : { outcome: 'error', cause: e.code ?? e.message },
      ),
    );
    // Timed from just before the write: the ClientHello reaches the wire inside the call, so the
    // time is never less than the wire's (from its return, a slow write would be hidden).
    const t0 = now();
    socket.write(built.record);
  });
}

// ---------------------------------------------------------------------------
// The groups matrix and the large-ClientHello comparison

/** One handshake per group, offering that group alone (with its key share): group name → outcome (`ok` when the server took it). */
export async function probeGroups(
  t: RawTarget,
  base: RawHelloOffer,
  groups: readonly number[],
  o: { timeoutMs: number; family?: 4 | 6; signal: AbortSignal },
): Promise<{ matrix: Record<string, string>; attempts: Record<string, RawHelloResult> }> {
  const matrix: Record<string, string> = {};
  const attempts: Record<string, RawHelloResult> = {};
  for (const g of groups) {
    if (o.signal.aborted) break;
    const r = await rawHelloOnce(t, { ...base, groups: [g], keyShares: [g] }, o);
    const name = groupName(g);
    attempts[name] = r;
    matrix[name] =
      r.outcome === 'ok' && r.serverHello && r.serverHello.groupCode === null ? `ok (${r.serverHello.version}, no key_share)` : r.outcome;
  }
  return { matrix, attempts };
}

export type HelloSizeVerdict = (typeof HELLO_SIZE_VERDICTS)[number];

export interface HelloSizeComparison {
  verdict: HelloSizeVerdict;
  small: RawHelloResult;
  large: RawHelloResult;
  cause: string;
}

const HYBRIDS = new Set([0x11eb, 0x11ec, 0x11ed]);

/** The offer without the post-quantum hybrids (their key shares alone pass 1,200 bytes): the small ClientHello of the comparison. */
export function classicalOffer(base: RawHelloOffer): RawHelloOffer {
  const groups = base.groups.filter((g) => !HYBRIDS.has(g));
  let keyShares = base.keyShares.filter((g) => !HYBRIDS.has(g));
  if (keyShares.length === 0) keyShares = [groups[0] ?? GROUP_X25519];
  return { ...base, groups: groups.length ? groups : keyShares, keyShares };
}

const answered = (r: RawHelloResult) => r.outcome === 'ok' || r.outcome === 'hello-retry';
const silent = (r: RawHelloResult) => r.outcome === 'timeout' || r.outcome === 'reset' || r.outcome === 'closed';

/**
 * The same classical offer (no hybrid key share) twice, unpadded and padded to `largeSize` bytes: a server,
 * or a middlebox in front of it, that answers the small ClientHello and not
 * the large one mishandles a ClientHello split over two segments.
 */
export async function compareHelloSizes(
  t: RawTarget,
  base: RawHelloOffer,
  largeSize: number,
  o: { timeoutMs: number; family?: 4 | 6; signal: AbortSignal },
): Promise<HelloSizeComparison> {
  const offer = { ...classicalOffer(base), helloSize: undefined };
  const small = await rawHelloOnce(t, offer, o);
  const large = await rawHelloOnce(t, { ...offer, helloSize: largeSize }, o);
  if (!answered(small)) {
    return {
      verdict: 'inconclusive',
      small,
      large,
      cause: `the ${small.helloBytes}-byte ClientHello got no ServerHello either (${small.outcome})`,
    };
  }
  if (answered(large)) {
    return {
      verdict: 'answered',
      small,
      large,
      cause: `both the ${small.helloBytes}-byte and the ${large.helloBytes}-byte ClientHello got a ServerHello`,
    };
  }
  if (silent(large)) {
    return {
      verdict: 'large-hello-dropped',
      small,
      large,
      cause: `a ${small.helloBytes}-byte ClientHello got a ServerHello, a ${large.helloBytes}-byte one got ${large.outcome}: something on the path drops a ClientHello longer than one segment`,
    };
  }
  return {
    verdict: 'large-hello-rejected',
    small,
    large,
    cause: `a ${small.helloBytes}-byte ClientHello got a ServerHello, a ${large.helloBytes}-byte one got ${large.outcome}`,
  };
}
