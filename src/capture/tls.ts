/**
 * TLS handshake dissection over a reassembled byte stream (RFC 8446 §5, §4).
 * Only what a failure diagnosis needs: ClientHello (SNI, offered versions),
 * ServerHello (selected version, so TLS 1.3 is seen), HelloRetryRequest,
 * plaintext alerts, ChangeCipherSpec and the first encrypted records, from
 * which completion is inferred when the rest of the handshake is encrypted.
 */

// Alert and version names come from the one TLS table (src/core/tls.ts).
export { alertName, tlsVersionName, TLS_VERSION_NAMES } from '../core/tls.js';
import { looksLikeTlsRecord, namePlaintext } from '../core/plaintext.js';

/** ServerHello.random of a HelloRetryRequest (RFC 8446 §4.1.3). */
const HRR_RANDOM = Buffer.from('cf21ad74e59a6111be1d8c021e65b891c2a211167abb8c5e079e09e2c8a8339c', 'hex');

export interface ClientHello {
  version: number;
  sni: string | null;
  offeredVersions: number[];
}
export interface ServerHello {
  version: number;
  selected: number;
  hrr: boolean;
}

/** A ClientHello message body (after the 4-byte handshake header). */
export function decodeClientHello(b: Buffer): ClientHello | { anomaly: string } {
  if (b.length < 38) return { anomaly: 'truncated_client_hello' };
  const version = b.readUInt16BE(0);
  let o = 34;
  const sid = b[o]!;
  o += 1 + sid;
  if (o + 2 > b.length) return { anomaly: 'truncated_client_hello' };
  o += 2 + b.readUInt16BE(o);
  if (o + 1 > b.length) return { anomaly: 'truncated_client_hello' };
  o += 1 + b[o]!;
  const out: ClientHello = { version, sni: null, offeredVersions: [] };
  if (o + 2 > b.length) return out; // no extensions (SSLv3-style hello)
  const extEnd = Math.min(b.length, o + 2 + b.readUInt16BE(o));
  o += 2;
  while (o + 4 <= extEnd) {
    const type = b.readUInt16BE(o);
    const len = b.readUInt16BE(o + 2);
    const d = o + 4;
    if (d + len > extEnd) break;
    if (type === 0 && len >= 5) {
      // server_name (RFC 6066 §3)
      const nameType = b[d + 2]!;
      const nlen = b.readUInt16BE(d + 3);
      if (nameType === 0 && d + 5 + nlen <= d + len) out.sni = b.toString('latin1', d + 5, d + 5 + nlen);
    } else if (type === 43 && len >= 1) {
      // supported_versions (RFC 8446 §4.2.1)
      const l = Math.min(b[d]!, len - 1);
      for (let i = 0; i + 1 < l; i += 2) {
        const v = b.readUInt16BE(d + 1 + i);
        if ((v & 0x0f0f) !== 0x0a0a) out.offeredVersions.push(v); // skip GREASE
      }
    }
    o = d + len;
  }
  return out;
}

export function decodeServerHello(b: Buffer): ServerHello | { anomaly: string } {
  if (b.length < 38) return { anomaly: 'truncated_server_hello' };
  const version = b.readUInt16BE(0);
  const hrr = b.subarray(2, 34).equals(HRR_RANDOM);
  let o = 34;
  o += 1 + b[o]!;
  o += 3; // cipher suite, compression method
  const out: ServerHello = { version, selected: version, hrr };
  if (o + 2 > b.length) return out;
  const extEnd = Math.min(b.length, o + 2 + b.readUInt16BE(o));
  o += 2;
  while (o + 4 <= extEnd) {
    const type = b.readUInt16BE(o);
    const len = b.readUInt16BE(o + 2);
    if (o + 4 + len > extEnd) break;
    if (type === 43 && len === 2) out.selected = b.readUInt16BE(o + 4);
    o += 4 + len;
  }
  return out;
}

/** Does this payload start with a TLS record carrying a ClientHello? */
export function startsWithClientHello(b: Buffer): boolean {
  if (b.length >= 6 && b[0] === 22 && b[1] === 3 && b[2]! <= 4 && b[5] === 1) return true;
  return isSslv2Hello(b, 0);
}

/** An SSLv2-format ClientHello, which SSLv3/TLS 1.0 clients may send first (RFC 5246 §E.2). */
function isSslv2Hello(b: Buffer, o: number): boolean {
  return b.length - o >= 5 && (b[o]! & 0x80) !== 0 && b[o + 2] === 1 && b[o + 3] === 3 && b[o + 4]! <= 3;
}

export interface TlsSide {
  /** Record header collected so far: its 5 bytes packed in a number (no Buffer per side). */
  hdr: number;
  hdrLen: number;
  /** Body of the current record: remaining length, and bytes kept when the content matters. */
  bodyLeft: number;
  type: number;
  recLen: number;
  keep: Buffer | null;
  keepLen: number;
  records: number;
  ccs: boolean;
  /** Records after this side's ChangeCipherSpec (TLS ≤ 1.2) or encrypted records (TLS 1.3). */
  afterCcs: number;
  appRecords: number;
  bytes: number;
  garbage: boolean;
}

export interface TlsState {
  clientHello: ClientHello | null;
  serverHello: ServerHello | null;
  hrr: boolean;
  alert: { from: 'client' | 'server'; level: number; desc: number } | null;
  client: TlsSide;
  server: TlsSide;
  complete: boolean;
  completeTs: number | null;
  /** Set when an alert was seen inside encrypted records (a TLS ≤ 1.2 alert after ChangeCipherSpec). */
  encryptedAlert: boolean;
  /**
   * The server answered in plaintext instead of TLS (its first bytes are no TLS record, or it
   * greeted before the ClientHello): what it was, named by core/plaintext (`SSH ("SSH-2.0-…")`).
   */
  plaintext: string | null;
}

function newSide(): TlsSide {
  return {
    hdr: 0,
    hdrLen: 0,
    bodyLeft: 0,
    type: 0,
    recLen: 0,
    keep: null,
    keepLen: 0,
    records: 0,
    ccs: false,
    afterCcs: 0,
    appRecords: 0,
    bytes: 0,
    garbage: false,
  };
}

export function createTlsState(): TlsState {
  return {
    clientHello: null,
    serverHello: null,
    hrr: false,
    alert: null,
    client: newSide(),
    server: newSide(),
    complete: false,
    completeTs: null,
    encryptedAlert: false,
    plaintext: null,
  };
}

const MAX_KEEP = 64 * 1024;

export function isTls13(t: TlsState): boolean {
  const v = t.serverHello?.selected ?? 0;
  return v === 0x0304 || v >> 8 === 0x7f || v === 0xfb1a;
}

function onRecord(t: TlsState, fromClient: boolean, type: number, body: Buffer | null, len: number, ts: number): void {
  const side = fromClient ? t.client : t.server;
  if (type === 128) return; // the SSLv2 hello, already read
  side.records++;
  if (side.ccs && type !== 20) side.afterCcs++;
  if (type === 20) side.ccs = true;
  else if (type === 21) {
    // A plaintext alert is exactly two bytes; a longer one is encrypted.
    if (len === 2 && body && body.length >= 2) {
      if (!t.alert || (t.alert.desc === 0 && body[1] !== 0))
        t.alert = { from: fromClient ? 'client' : 'server', level: body[0]!, desc: body[1]! };
    } else if (!t.complete) t.encryptedAlert = true;
  } else if (type === 22 && body) {
    // Walk the handshake messages in this record (a record may hold several).
    let o = 0;
    while (o + 4 <= body.length) {
      const ht = body[o]!;
      const hl = body.readUIntBE(o + 1, 3);
      const msg = body.subarray(o + 4, Math.min(body.length, o + 4 + hl));
      if (fromClient && ht === 1 && !t.clientHello) {
        const ch = decodeClientHello(msg);
        if (!('anomaly' in ch)) t.clientHello = ch;
      } else if (!fromClient && ht === 2) {
        const sh = decodeServerHello(msg);
        if (!('anomaly' in sh)) {
          if (sh.hrr) t.hrr = true;
          else t.serverHello = sh;
        }
      }
      if (side.ccs && t.serverHello) break; // encrypted from here
      o += 4 + hl;
    }
  } else if (type === 23 && t.serverHello) {
    // In TLS 1.3 an alert travels encrypted: 2 bytes + content type + a 16-byte AEAD tag
    // (RFC 8446 §5.2). Nothing shorter than 25 bytes can be a Finished message.
    if (isTls13(t) && len <= 24 && !t.complete) t.encryptedAlert = true;
    else side.appRecords++;
  }
  if (!t.complete && t.serverHello) {
    if (isTls13(t)) {
      // TLS 1.3: the server's flight after ServerHello and the client's Finished are encrypted
      // records (type 23); both having sent one means the handshake finished.
      if (t.server.appRecords > 0 && t.client.appRecords > 0) {
        t.complete = true;
        t.completeTs = ts;
      }
    } else if (t.client.ccs && t.server.ccs && t.client.afterCcs > 0 && t.server.afterCcs > 0) {
      t.complete = true;
      t.completeTs = ts;
    }
  }
}

/** Feed in-order stream bytes from one side. Returns false when there is nothing more to learn. */
export function feedTls(t: TlsState, fromClient: boolean, data: Buffer, ts: number): boolean {
  const s = fromClient ? t.client : t.server;
  if (s.garbage) return false;
  // The server's very first bytes tell TLS from a plaintext service on the port.
  if (
    !fromClient &&
    s.bytes === 0 &&
    data.length > 0 &&
    !t.plaintext &&
    !looksLikeTlsRecord(data) &&
    !(data.length < 3 && data[0]! >= 0x14 && data[0]! <= 0x18)
  )
    t.plaintext = namePlaintext(data);
  let o = 0;
  s.bytes += data.length;
  while (o < data.length) {
    if (fromClient && s.records === 0 && s.hdrLen === 0 && s.bodyLeft === 0 && isSslv2Hello(data, o)) {
      const len = ((data[o]! & 0x7f) << 8) | data[o + 1]!;
      if (!t.clientHello) t.clientHello = { version: data.readUInt16BE(o + 3), sni: null, offeredVersions: [] };
      s.records++;
      s.type = 128;
      s.keep = null;
      s.recLen = len;
      s.bodyLeft = Math.max(0, len - 3);
      o += 5;
      if (s.bodyLeft === 0) continue;
    }
    if (s.bodyLeft === 0 && s.hdrLen < 5) {
      while (s.hdrLen < 5 && o < data.length) {
        s.hdr = s.hdr * 256 + data[o++]!;
        s.hdrLen++;
      }
      if (s.hdrLen < 5) break;
      // type(1) version(2) length(2), big-endian (RFC 8446 §5.1)
      const type = Math.floor(s.hdr / 2 ** 32);
      const major = Math.floor(s.hdr / 2 ** 24) % 256;
      const len = s.hdr % 65536;
      s.hdr = 0;
      s.recLen = len;
      if (type < 20 || type > 24 || major !== 3 || len > 18432) {
        s.garbage = true;
        return false;
      }
      s.type = type;
      s.bodyLeft = len;
      // After a HelloRetryRequest both sides may send a (middlebox) ChangeCipherSpec before the
      // second hello pair (RFC 8446 §D.4): handshake records stay readable until the ServerHello.
      const wanted = type === 21 || (type === 22 && (!s.ccs || !t.serverHello));
      s.keep = wanted ? Buffer.allocUnsafe(Math.min(len, MAX_KEEP)) : null;
      s.keepLen = 0;
      if (len === 0) {
        s.hdrLen = 0;
        onRecord(t, fromClient, type, s.keep, 0, ts);
      }
      continue;
    }
    const n = Math.min(s.bodyLeft, data.length - o);
    if (s.keep && s.keepLen < s.keep.length) {
      const k = Math.min(n, s.keep.length - s.keepLen);
      data.copy(s.keep, s.keepLen, o, o + k);
      s.keepLen += k;
    }
    o += n;
    s.bodyLeft -= n;
    if (s.bodyLeft === 0) {
      s.hdrLen = 0;
      onRecord(t, fromClient, s.type, s.keep ? s.keep.subarray(0, s.keepLen) : null, s.recLen, ts);
      s.keep = null;
    }
  }
  return !t.complete;
}
