import { createHmac, randomBytes } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import dns2 from 'dns2';
import { EDNS_OPTION } from '../core/dns.js';
import { wellFormed } from '../probes/dns-wire.js';
import { scanReply, type EdnsReply } from '../probes/edns.js';
import { answerFor, serveDns, type Handler } from './dns.js';
import { LAB_HOST, type LabFactory } from './types.js';

const { Packet } = dns2;
type DnsPacket = InstanceType<typeof Packet>;

/**
 * An EDNS-aware lab resolver (RFC 6891): it reads the OPT record of each
 * query by hand and answers with one of its own carrying NSID (RFC 5001),
 * the client subnet echoed with a scope (RFC 7871), cookies (RFC 7873:
 * the client cookie echoed, a server cookie made from it, BADCOOKIE for a
 * wrong one), an Extended DNS Error (RFC 8914) when configured, and with
 * the DO bit an AD flag and an RRSIG record, as a validating resolver gives.
 */

export interface EdnsLabStats {
  queries: number;
  /** Queries that carried an OPT record. */
  withOpt: number;
  /** Queries that carried the server cookie this server gave. */
  validServerCookies: number;
  /** Queries with a server cookie this server did not give (answered BADCOOKIE). */
  badServerCookies: number;
  /** The payload size the last OPT record advertised. */
  lastUdpSize?: number;
}

export interface EdnsBehaviour {
  /** NSID to give, per query (by arrival number) when asked. */
  nsid?: (n: number) => string;
  /** An EDE for every reply, with the rcode to give. */
  ede?: { code: number; text?: string; rcode: number };
  /** Echo a client cookie other than the one sent. */
  wrongClientCookie?: boolean;
  /** Answer with no record (NOERROR, NODATA). */
  nodata?: boolean;
}

function opt(udpSize: number, extRcode: number, dnssecOk: boolean, options: Buffer[]): Buffer {
  const rdata = Buffer.concat(options);
  const rr = Buffer.alloc(11 + rdata.length);
  rr.writeUInt16BE(41, 1);
  rr.writeUInt16BE(udpSize, 3);
  rr.writeUInt32BE(((extRcode & 0xff) << 24) | (dnssecOk ? 0x8000 : 0), 5);
  rr.writeUInt16BE(rdata.length, 9);
  rdata.copy(rr, 11);
  return rr;
}

function option(code: number, data: Buffer): Buffer {
  const b = Buffer.alloc(4 + data.length);
  b.writeUInt16BE(code, 0);
  b.writeUInt16BE(data.length, 2);
  data.copy(b, 4);
  return b;
}

/** A plausible RRSIG over the first answer (name pointer to the question), so clients can count signatures. */
function rrsig(coveredType: number): Buffer {
  const signer = Buffer.from([3, ...Buffer.from('lab'), 4, ...Buffer.from('test'), 0]);
  const sig = randomBytes(64);
  const rd = Buffer.alloc(18);
  rd.writeUInt16BE(coveredType, 0);
  rd[2] = 13; // ECDSAP256SHA256
  rd[3] = 2;
  rd.writeUInt32BE(60, 4);
  const t = Math.floor(Date.now() / 1000);
  rd.writeUInt32BE(t + 86400, 8);
  rd.writeUInt32BE(t - 3600, 12);
  rd.writeUInt16BE(12345, 16);
  const rdata = Buffer.concat([rd, signer, sig]);
  const head = Buffer.alloc(12);
  head.writeUInt16BE(0xc00c, 0);
  head.writeUInt16BE(46, 2);
  head.writeUInt16BE(1, 4);
  head.writeUInt32BE(60, 6);
  head.writeUInt16BE(rdata.length, 10);
  return Buffer.concat([head, rdata]);
}

/** The query's OPT record, or null without one (or when the query cannot be read). */
export function queryEdns(raw: Buffer): EdnsReply | null {
  return wellFormed(raw) ? scanReply(raw, 0).edns : null;
}

/** The EDNS handler: `base` builds the reply before its OPT record. */
export function ednsHandler(b: EdnsBehaviour, stats: EdnsLabStats, base: (req: DnsPacket) => DnsPacket = answerFor): Handler {
  const secret = randomBytes(16);
  const serverCookieFor = (client: Buffer) => createHmac('sha256', secret).update(client).digest().subarray(0, 8);
  return (req, _transport, raw) => {
    const n = stats.queries++;
    const edns = queryEdns(raw);
    const ecs = edns?.ecs;
    let res = base(req);
    if (b.nodata || b.ede) res.answers = [];
    if (b.ede) res.header.rcode = b.ede.rcode & 0xf;
    if (!edns) {
      // RFC 6891 §7: no OPT in the query, none in the reply.
      return res;
    }
    stats.withOpt++;
    stats.lastUdpSize = edns.udpSize;
    const options: Buffer[] = [];
    let extRcode = b.ede ? b.ede.rcode >> 4 : 0;
    if (edns.nsid !== undefined && b.nsid) options.push(option(EDNS_OPTION.NSID, Buffer.from(b.nsid(n))));
    if (ecs && ecs.length >= 4) {
      const echo = Buffer.from(ecs);
      echo[3] = echo[2]!; // scope = source prefix: the answer holds for the whole subnet
      options.push(option(EDNS_OPTION.ECS, echo));
    }
    if (edns.cookie) {
      const good = serverCookieFor(edns.cookie.client);
      if (edns.cookie.server) {
        if (edns.cookie.server.equals(good)) stats.validServerCookies++;
        else {
          stats.badServerCookies++;
          res = Packet.createResponseFromRequest(req);
          res.header.rcode = 23 & 0xf;
          extRcode = 23 >> 4; // BADCOOKIE (RFC 7873 §5.2.3)
        }
      }
      const client = b.wrongClientCookie ? Buffer.from(edns.cookie.client.map((x) => x ^ 0xff)) : edns.cookie.client;
      options.push(option(EDNS_OPTION.COOKIE, Buffer.concat([client, good])));
    }
    if (b.ede) {
      const d = Buffer.concat([Buffer.from([b.ede.code >> 8, b.ede.code & 0xff]), Buffer.from(b.ede.text ?? '', 'utf8')]);
      options.push(option(EDNS_OPTION.EDE, d));
    }
    let out = res.toBuffer();
    if (edns.dnssecOk && res.answers.length > 0 && !b.ede) {
      out[3]! |= 0x20; // AD: the lab zone is "validated"
      out = Buffer.concat([out, rrsig(req.questions[0]?.type ?? 1)]);
      out.writeUInt16BE(out.readUInt16BE(6) + 1, 6);
    }
    out = Buffer.concat([out, opt(1232, extRcode, edns.dnssecOk, options)]);
    out.writeUInt16BE(out.readUInt16BE(10) + 1, 10);
    return out;
  };
}

const newStats = (): EdnsLabStats => ({ queries: 0, withOpt: 0, validServerCookies: 0, badServerCookies: 0 });

function ednsEndpoint(
  name: string,
  description: string,
  expect: string,
  b: EdnsBehaviour,
  extra: Record<string, unknown> = {},
): LabFactory {
  return async (o) => {
    const host = o?.host ?? LAB_HOST;
    const stats = newStats();
    const bound = await serveDns(ednsHandler(b, stats), host);
    return {
      name,
      kind: 'dns',
      host,
      port: bound.port,
      description,
      expect,
      info: { name: 'lab.test', stats, ...extra },
      close: bound.close,
    };
  };
}

export const LAB_NSID = 'lab-ns-1';
export const LAB_ANYCAST_NSIDS = ['anycast-a', 'anycast-b'] as const;
export const LAB_CACHE_MISS_MS = 50;

/**
 * The slow-on-cache-miss resolver: the first query for a name waits
 * `missMs` (a recursion), later ones for the same name are answered at once
 * (a cache hit). It counts both, the truth `--random-label` is checked against.
 */
export function cacheMissDns(opts: { missMs?: number } = {}): LabFactory {
  const missMs = opts.missMs ?? LAB_CACHE_MISS_MS;
  return async (o) => {
    const host = o?.host ?? LAB_HOST;
    const seen = new Set<string>();
    const counts = { misses: 0, hits: 0 };
    const stats = newStats();
    const handler = ednsHandler({ nsid: () => LAB_NSID }, stats);
    const bound = await serveDns(handler, host, {
      delayMs: (raw) => {
        const t0 = performance.now();
        let key = '';
        try {
          const q = Packet.parse(raw).questions[0];
          key = `${String(q?.name ?? '').toLowerCase()}/${q?.type ?? 0}`;
        } catch {
          return 0;
        }
        if (seen.has(key)) {
          counts.hits++;
          return 0;
        }
        if (seen.size > 100_000) seen.clear();
        seen.add(key);
        counts.misses++;
        return Math.max(0, missMs - (performance.now() - t0));
      },
    });
    return {
      name: 'dns-cache-miss',
      kind: 'dns',
      host,
      port: bound.port,
      description: `answers a name it has seen at once and a new one after ${missMs} ms (a cache miss); --random-label sees only misses`,
      expect: 'ok',
      info: { name: 'lab.test', missMs, counts, stats },
      close: bound.close,
    };
  };
}

export const DNS_EDNS_LAB: Record<string, LabFactory> = {
  'dns-edns': ednsEndpoint(
    'dns-edns',
    `EDNS-aware: NSID "${LAB_NSID}", cookies (BADCOOKIE for a wrong server cookie), client subnet echoed, AD and RRSIG with DO`,
    'ok',
    { nsid: () => LAB_NSID },
    { nsid: LAB_NSID },
  ),
  'dns-anycast': ednsEndpoint(
    'dns-anycast',
    `two anycast instances behind one address: NSID "${LAB_ANYCAST_NSIDS[0]}" and "${LAB_ANYCAST_NSIDS[1]}" in turn`,
    'ok',
    { nsid: (n) => LAB_ANYCAST_NSIDS[n % 2]! },
    { nsids: [...LAB_ANYCAST_NSIDS] },
  ),
  'dns-ede': ednsEndpoint('dns-ede', 'SERVFAIL with Extended DNS Error 22 "No Reachable Authority"', 'servfail', {
    nsid: () => LAB_NSID,
    ede: { code: 22, text: 'lab: no authority answered', rcode: 2 },
  }),
  'dns-nodata': ednsEndpoint('dns-nodata', 'NOERROR without a record of the asked type (NODATA)', 'nodata', {
    nsid: () => LAB_NSID,
    nodata: true,
  }),
  'dns-bad-cookie': ednsEndpoint('dns-bad-cookie', 'echoes a client cookie other than the one sent', 'ok', { wrongClientCookie: true }),
  'dns-cache-miss': cacheMissDns(),
};
