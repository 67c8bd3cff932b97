import { randomBytes } from 'node:crypto';
import { listenTracked } from './listen.js';
import * as net from 'node:net';
import { groupByCode, groupName, GROUP_SECP256R1, GROUP_X25519, GROUP_X25519MLKEM768, HRR_RANDOM, TLS_EXT } from '../core/tls.js';
import { ONE_SEGMENT_BYTES, parseClientHello, type ParsedClientHello } from '../probes/tls-raw.js';
import { alertRecord } from './tls.js';
import { LAB_HOST, type LabFactory } from './types.js';

/**
 * Raw TLS lab endpoints for the raw ClientHello prober (`conndx tls --raw`,
 * `--groups`, `--large-hello`): each reads the ClientHello and answers with
 * a ServerHello built by hand (the prober never finishes the handshake), a
 * HelloRetryRequest, an alert, or nothing at all.
 */

const u16 = (n: number) => Buffer.from([(n >> 8) & 0xff, n & 0xff]);
const ext = (type: number, body: Buffer) => Buffer.concat([u16(type), u16(body.length), body]);

/** The TLS 1.3 cipher suites the hand-built server picks from, in its order. */
const SERVER_SUITES = [0x1301, 0x1302, 0x1303];

/** A TLS 1.3 ServerHello (or, with `helloRetry`, a HelloRetryRequest) record, RFC 8446 section 4.1.3. */
export function serverHelloRecord(o: { sessionId: Buffer; cipher: number; group: number; helloRetry: boolean }): Buffer {
  const row = groupByCode(o.group);
  const share = o.helloRetry
    ? u16(o.group)
    : Buffer.concat([u16(o.group), u16(row?.serverShareLength ?? 32), randomBytes(row?.serverShareLength ?? 32)]);
  const exts = Buffer.concat([ext(TLS_EXT.supportedVersions, u16(0x0304)), ext(TLS_EXT.keyShare, share)]);
  const body = Buffer.concat([
    u16(0x0303),
    o.helloRetry ? HRR_RANDOM : randomBytes(32),
    Buffer.from([o.sessionId.length]),
    o.sessionId,
    u16(o.cipher),
    Buffer.from([0]),
    u16(exts.length),
    exts,
  ]);
  const hs = Buffer.concat([Buffer.from([2, (body.length >> 16) & 0xff, (body.length >> 8) & 0xff, body.length & 0xff]), body]);
  return Buffer.concat([Buffer.from([22, 3, 3]), u16(hs.length), hs]);
}

/**
 * What a TLS 1.3 server with the group preference `prefer` answers: the
 * first of its groups the client lists; a ServerHello when the client sent
 * that group's key share, a HelloRetryRequest asking for it when not, and
 * alert handshake_failure (40) when no group, or no suite, is shared.
 */
export function answerHello(ch: ParsedClientHello, prefer: readonly number[]): Buffer {
  if (!ch.versions.includes(0x0304)) return alertRecord(70); // protocol_version
  const cipher = SERVER_SUITES.find((s) => ch.cipherSuites.includes(s));
  const group = prefer.find((g) => ch.groups.includes(g));
  if (cipher === undefined || group === undefined) return alertRecord(40);
  const shared = ch.keyShares.some((k) => k.group === group);
  return serverHelloRecord({ sessionId: ch.sessionId, cipher, group, helloRetry: !shared });
}

interface RawServerSpec {
  name: string;
  description: string;
  expect: string;
  prefer: readonly number[];
  /** Drop a ClientHello record longer than this many bytes (header included): `silent` never answers, `reset` sends RST. */
  drop?: { above: number; how: 'silent' | 'reset' };
  info?: Record<string, unknown>;
}

function rawServer(spec: RawServerSpec): LabFactory {
  return async (opts) => {
    const host = opts?.host ?? LAB_HOST;
    const server = net.createServer((s) => {
      let buf = Buffer.alloc(0);
      const onData = (d: Buffer) => {
        buf = Buffer.concat([buf, d]);
        if (buf.length < 5) return;
        const recordBytes = 5 + buf.readUInt16BE(3);
        // Judged on the record length header alone, as a middlebox that cannot reassemble does.
        if (spec.drop && recordBytes > spec.drop.above) {
          s.off('data', onData);
          if (spec.drop.how === 'reset') s.resetAndDestroy();
          return;
        }
        if (buf.length < recordBytes && buf.length < 5 + 16_384) return;
        s.off('data', onData);
        const ch = parseClientHello(buf);
        // Wait for the client to close: the prober reads the ServerHello and goes.
        s.write(ch ? answerHello(ch, spec.prefer) : alertRecord(50)); // decode_error
      };
      s.on('data', onData);
    });
    const l = await listenTracked(server, host);
    return {
      name: spec.name,
      kind: 'tls',
      host,
      port: l.port,
      description: spec.description,
      expect: spec.expect,
      info: { sni: 'lab.conndx.test', groups: spec.prefer.map(groupName), ...spec.info },
      close: l.close,
    };
  };
}

export const TLS_RAW_LAB: Record<string, LabFactory> = {
  'tls-raw-hrr': rawServer({
    name: 'tls-raw-hrr',
    description:
      'a hand-built TLS 1.3 server that prefers secp256r1: a ClientHello without a secp256r1 key share gets a HelloRetryRequest for it',
    expect: 'hello-retry',
    prefer: [GROUP_SECP256R1, GROUP_X25519],
    info: { hrrGroup: 'secp256r1' },
  }),
  'tls-raw-hybrid': rawServer({
    name: 'tls-raw-hybrid',
    description:
      'a hand-built TLS 1.3 server that accepts X25519MLKEM768 (and x25519): its ServerHello carries a 1120-byte hybrid key share',
    expect: 'ok',
    prefer: [GROUP_X25519MLKEM768, GROUP_X25519],
  }),
  'tls-raw-large-drop': rawServer({
    name: 'tls-raw-large-drop',
    description: `answers a ClientHello of up to ${ONE_SEGMENT_BYTES} bytes (one segment) and stays silent on a longer one, as a broken middlebox does`,
    expect: 'large-hello-dropped',
    prefer: [GROUP_X25519, GROUP_SECP256R1],
    drop: { above: ONE_SEGMENT_BYTES, how: 'silent' },
    info: { maxHelloBytes: ONE_SEGMENT_BYTES },
  }),
  'tls-raw-large-reset': rawServer({
    name: 'tls-raw-large-reset',
    description: `answers a ClientHello of up to ${ONE_SEGMENT_BYTES} bytes (one segment) and resets the connection on a longer one`,
    expect: 'large-hello-dropped',
    prefer: [GROUP_X25519, GROUP_SECP256R1],
    drop: { above: ONE_SEGMENT_BYTES, how: 'reset' },
    info: { maxHelloBytes: ONE_SEGMENT_BYTES },
  }),
};
