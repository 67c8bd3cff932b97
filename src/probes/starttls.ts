import type * as net from 'node:net';
import { now } from '../core/clock.js';
import type { StarttlsOutcome } from '../core/types.js';
import { Dialog, DialogEnd, lineEnd, printable } from './dialog.js';

/**
 * The plaintext upgrade a server wants before its TLS handshake
 * (`--starttls`): each protocol's dialog up to the point where the next bytes
 * on the connection are the ClientHello. Nothing is sent after that: the TLS
 * handshake takes the socket over.
 */
export const STARTTLS_PROTOCOLS = ['smtp', 'imap', 'pop3', 'postgres', 'ldap', 'mysql'] as const;
export type StarttlsProtocol = (typeof STARTTLS_PROTOCOLS)[number];

/** The port a target without one is probed on, per protocol (SMTP: submission). */
export const STARTTLS_DEFAULT_PORTS: Record<StarttlsProtocol, number> = {
  smtp: 587,
  imap: 143,
  pop3: 110,
  postgres: 5432,
  ldap: 389,
  mysql: 3306,
};

/** URL schemes `diagnose` reads as a STARTTLS protocol. */
export const STARTTLS_SCHEMES: Record<string, StarttlsProtocol> = {
  smtp: 'smtp',
  imap: 'imap',
  pop3: 'pop3',
  postgres: 'postgres',
  postgresql: 'postgres',
  ldap: 'ldap',
  mysql: 'mysql',
};

export function parseStarttls(text: string): StarttlsProtocol | null {
  const t = text.trim().toLowerCase();
  return (STARTTLS_PROTOCOLS as readonly string[]).includes(t) ? (t as StarttlsProtocol) : t === 'postgresql' ? 'postgres' : null;
}

export interface StarttlsResult {
  outcome: 'ok' | StarttlsOutcome;
  /** First byte awaited (or request written) → the server's go-ahead read (mysql: the SSLRequest written). */
  ms: number;
  cause?: string;
  /** The server's reply that decided it, as text. */
  reply?: string;
}

/** A refusal or absence, with the reply that says so. */
class Verdict extends Error {
  constructor(
    readonly outcome: StarttlsOutcome,
    message: string,
    readonly reply?: string,
  ) {
    super(message);
  }
}

type Step = (d: Dialog) => Promise<void>;

// ---------------------------------------------------------------- SMTP (RFC 3207)

/** A whole SMTP reply at the front (lines "250-…" then "250 …"): its length, or -1. */
function smtpReplyEnd(b: Buffer): number {
  let o = 0;
  for (;;) {
    const e = lineEnd(b, o);
    if (e < 0) return -1;
    const line = b.subarray(o, e).toString('latin1');
    if (!/^\d{3}-/.test(line)) return e;
    o = e;
  }
}

async function smtpReply(d: Dialog): Promise<{ code: number; text: string }> {
  const raw = (await d.read(smtpReplyEnd)).toString('latin1');
  const code = Number(raw.slice(0, 3));
  if (!/^\d{3}/.test(raw)) throw new Verdict('starttls-protocol-error', 'the server does not speak SMTP', printable(raw));
  return { code, text: raw };
}

const smtp: Step = async (d) => {
  const hello = await smtpReply(d);
  if (hello.code !== 220) throw new Verdict('starttls-refused', `the server greeted with ${hello.code}`, printable(hello.text));
  const local = d.socket.localAddress ?? '127.0.0.1';
  d.write(`EHLO [${local.includes(':') ? `IPv6:${local}` : local}]\r\n`);
  const ehlo = await smtpReply(d);
  if (ehlo.code !== 250) {
    d.write('QUIT\r\n');
    throw new Verdict('starttls-not-offered', `EHLO answered ${ehlo.code}: no ESMTP, so no STARTTLS`, printable(ehlo.text));
  }
  if (!/^250[ -]STARTTLS\s*$/im.test(ehlo.text)) {
    d.write('QUIT\r\n');
    throw new Verdict('starttls-not-offered', 'the EHLO reply does not list STARTTLS', printable(ehlo.text));
  }
  d.write('STARTTLS\r\n');
  const go = await smtpReply(d);
  if (go.code !== 220) throw new Verdict('starttls-refused', `STARTTLS answered ${go.code}`, printable(go.text));
};

// ---------------------------------------------------------------- IMAP (RFC 3501 section 6.2.1)

/** Lines up to and including the one tagged `tag` (or any line for tag "*"). */
function taggedEnd(tag: string) {
  return (b: Buffer): number => {
    let o = 0;
    for (;;) {
      const e = lineEnd(b, o);
      if (e < 0) return -1;
      if (tag === '*' || b.subarray(o, e).toString('latin1').startsWith(`${tag} `)) return e;
      o = e;
    }
  };
}

const imap: Step = async (d) => {
  const hello = (await d.read(taggedEnd('*'))).toString('latin1');
  if (/^\* BYE/i.test(hello)) throw new Verdict('starttls-refused', 'the server greeted with BYE', printable(hello));
  if (!/^\* (OK|PREAUTH)/i.test(hello)) throw new Verdict('starttls-protocol-error', 'the server does not speak IMAP', printable(hello));
  let caps = /\[CAPABILITY ([^\]]*)\]/i.exec(hello)?.[1];
  if (caps === undefined) {
    d.write('C1 CAPABILITY\r\n');
    const r = (await d.read(taggedEnd('C1'))).toString('latin1');
    caps = /^\* CAPABILITY (.*)$/im.exec(r)?.[1] ?? '';
  }
  if (!/(^|\s)STARTTLS(\s|$)/i.test(caps)) {
    d.write('C9 LOGOUT\r\n');
    throw new Verdict('starttls-not-offered', 'the capabilities do not list STARTTLS', printable(caps));
  }
  d.write('C2 STARTTLS\r\n');
  const r = (await d.read(taggedEnd('C2'))).toString('latin1');
  const last = r.slice(r.lastIndexOf('C2 '));
  if (!/^C2 OK/i.test(last)) throw new Verdict('starttls-refused', 'STARTTLS was not answered OK', printable(last));
};

// ---------------------------------------------------------------- POP3 (RFC 2595 section 4)

const pop3: Step = async (d) => {
  const hello = (await d.read((b) => lineEnd(b))).toString('latin1');
  if (/^-ERR/.test(hello)) throw new Verdict('starttls-refused', 'the server greeted with -ERR', printable(hello));
  if (!/^\+OK/.test(hello)) throw new Verdict('starttls-protocol-error', 'the server does not speak POP3', printable(hello));
  d.write('CAPA\r\n');
  const first = (await d.read((b) => lineEnd(b))).toString('latin1');
  let caps = '';
  if (/^\+OK/.test(first)) {
    caps = (
      await d.read((b) => {
        const i = b.indexOf('\r\n.\r\n');
        return b.subarray(0, 3).toString('latin1') === '.\r\n' ? 3 : i < 0 ? -1 : i + 5;
      })
    ).toString('latin1');
  }
  if (!/^STLS\s*$/im.test(caps)) {
    d.write('QUIT\r\n');
    throw new Verdict('starttls-not-offered', 'CAPA does not list STLS', printable(caps || first));
  }
  d.write('STLS\r\n');
  const go = (await d.read((b) => lineEnd(b))).toString('latin1');
  if (!/^\+OK/.test(go)) throw new Verdict('starttls-refused', 'STLS was not answered +OK', printable(go));
};

// ---------------------------------------------------------------- PostgreSQL (protocol section 55.2.10, SSLRequest)

/** Length 8, then the SSLRequest code 80877103 (1234 << 16 | 5679). */
const SSL_REQUEST = Buffer.from([0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f]);

const postgres: Step = async (d) => {
  d.write(SSL_REQUEST);
  const b = await d.read(() => 1);
  const c = String.fromCharCode(b[0]!);
  if (c === 'S') return;
  if (c === 'N') throw new Verdict('starttls-not-offered', 'the server answered the SSLRequest with N: it does not do TLS', 'N');
  if (c === 'E') {
    // A server too old to know the SSLRequest answers it with an ErrorResponse.
    const rest = await d.read((x) =>
      x.length >= 4 && x.length >= x.readUInt32BE(0) ? x.readUInt32BE(0) : x.length >= 4096 ? x.length : -1,
    );
    const text = rest
      .subarray(4)
      .toString('latin1')
      .split('\0')
      .filter(Boolean)
      .map((f) => f.slice(1));
    throw new Verdict('starttls-refused', 'the server answered the SSLRequest with an error', printable(text.join(' ')));
  }
  throw new Verdict('starttls-protocol-error', `the server answered the SSLRequest with byte 0x${b[0]!.toString(16)}`, printable(b));
};

// ---------------------------------------------------------------- MySQL (Protocol::HandshakeV10, Protocol::SSLRequest)

const CLIENT_LONG_PASSWORD = 0x1;
const CLIENT_PROTOCOL_41 = 0x200;
const CLIENT_SSL = 0x800;
const CLIENT_SECURE_CONNECTION = 0x8000;

const mysql: Step = async (d) => {
  const pkt = await d.read((b) => (b.length >= 4 && b.length >= 4 + b.readUIntLE(0, 3) ? 4 + b.readUIntLE(0, 3) : -1));
  const seq = pkt[3]!;
  const p = pkt.subarray(4);
  if (p[0] === 0xff) {
    const msg = p
      .subarray(3)
      .toString('utf8')
      .replace(/^#\w{5}/, '');
    throw new Verdict('starttls-refused', `the server greeted with error ${p.length >= 3 ? p.readUInt16LE(1) : '?'}`, printable(msg));
  }
  if (p[0] !== 10) throw new Verdict('starttls-protocol-error', `not a MySQL greeting (protocol ${p[0]})`, printable(p.subarray(0, 40)));
  const nul = p.indexOf(0, 1);
  const capAt = nul + 1 + 4 + 8 + 1;
  if (nul < 0 || p.length < capAt + 2)
    throw new Verdict('starttls-protocol-error', 'a cut-short MySQL greeting', printable(p.subarray(0, 40)));
  const version = p.subarray(1, nul).toString('latin1');
  if ((p.readUInt16LE(capAt) & CLIENT_SSL) === 0) {
    throw new Verdict('starttls-not-offered', `the server (${version}) does not set CLIENT_SSL`, printable(version));
  }
  const req = Buffer.alloc(4 + 32);
  req.writeUIntLE(32, 0, 3);
  req[3] = (seq + 1) & 0xff;
  req.writeUInt32LE(CLIENT_LONG_PASSWORD | CLIENT_PROTOCOL_41 | CLIENT_SSL | CLIENT_SECURE_CONNECTION, 4);
  req.writeUInt32LE(16 * 1024 * 1024, 8);
  req[12] = 45; // utf8mb4_general_ci
  d.write(req);
};

// ---------------------------------------------------------------- LDAP (RFC 4511 section 4.14)

/** LDAPMessage { messageID 1, ExtendedRequest { requestName "1.3.6.1.4.1.1466.20037" } }. */
const LDAP_STARTTLS = Buffer.concat([
  Buffer.from([0x30, 0x1d, 0x02, 0x01, 0x01, 0x77, 0x18, 0x80, 0x16]),
  Buffer.from('1.3.6.1.4.1.1466.20037'),
]);

/** A BER element at `o`: tag, content start, content end; null when not all there (or too long for a reply). */
function berAt(b: Buffer, o: number): { tag: number; start: number; end: number } | null {
  if (b.length < o + 2) return null;
  const tag = b[o]!;
  let len = b[o + 1]!;
  let start = o + 2;
  if (len & 0x80) {
    const n = len & 0x7f;
    if (n === 0 || n > 3 || b.length < start + n) return null;
    len = b.readUIntBE(start, n);
    start += n;
  }
  return b.length < start + len ? null : { tag, start, end: start + len };
}

const LDAP_RESULTS: Record<number, string> = {
  1: 'operationsError',
  2: 'protocolError',
  3: 'timeLimitExceeded',
  8: 'strongerAuthRequired',
  12: 'unavailableCriticalExtension',
  51: 'busy',
  52: 'unavailable',
  53: 'unwillingToPerform',
  80: 'other',
};

const ldap: Step = async (d) => {
  d.write(LDAP_STARTTLS);
  const msg = await d.read((b) => {
    if (b[0] !== 0x30) return b.length;
    const e = berAt(b, 0);
    return e ? e.end : b.length > 4096 ? b.length : -1;
  });
  const outer = berAt(msg, 0);
  const id = outer && berAt(msg, outer.start);
  const op = id && berAt(msg, id.end);
  if (!outer || outer.tag !== 0x30 || !op || op.tag !== 0x78) {
    throw new Verdict('starttls-protocol-error', 'the answer is not an LDAP ExtendedResponse', printable(msg.subarray(0, 40)));
  }
  const code = berAt(msg, op.start);
  const dn = code && berAt(msg, code.end);
  const diag = dn && berAt(msg, dn.end);
  const rc = code && code.tag === 0x0a ? msg.readUIntBE(code.start, Math.min(4, Math.max(1, code.end - code.start))) : -1;
  if (rc === 0) return;
  const text = diag ? msg.subarray(diag.start, diag.end).toString('utf8') : '';
  const name = LDAP_RESULTS[rc] ?? `result ${rc}`;
  const reply = printable(`${rc} ${name}${text ? `: ${text}` : ''}`);
  // protocolError is what a server without the StartTLS operation answers (RFC 4511 section 4.12).
  if (rc === 2 || rc === 12) throw new Verdict('starttls-not-offered', `the server does not know StartTLS (${name})`, reply);
  throw new Verdict('starttls-refused', `StartTLS answered ${name}`, reply);
};

const STEPS: Record<StarttlsProtocol, Step> = { smtp, imap, pop3, postgres, ldap, mysql };

/**
 * Runs the upgrade dialog of `protocol` on a connected socket, until the
 * server says go (or refuses, or stays silent until the deadline). On `ok`
 * the socket carries no listener of this module and nothing unread: the next
 * bytes written are the ClientHello. Never throws for a network outcome.
 */
export async function starttls(
  socket: net.Socket,
  protocol: StarttlsProtocol,
  deadline: number,
  signal: AbortSignal,
): Promise<StarttlsResult> {
  const t0 = now();
  const d = new Dialog(socket, deadline, now, signal);
  try {
    await STEPS[protocol](d);
    const ms = now() - t0;
    if (d.leftover > 0) {
      return { outcome: 'starttls-protocol-error', ms, cause: `${d.leftover} bytes after the server's go-ahead, before any ClientHello` };
    }
    return { outcome: 'ok', ms };
  } catch (e) {
    const ms = now() - t0;
    if (e instanceof Verdict) return { outcome: e.outcome, ms, cause: e.reply ? `${e.message}: ${e.reply}` : e.message, reply: e.reply };
    if (e instanceof DialogEnd) {
      const outcome: StarttlsOutcome =
        e.how === 'timeout'
          ? 'starttls-timeout'
          : e.how === 'reset'
            ? 'starttls-reset'
            : e.how === 'closed'
              ? 'starttls-closed'
              : 'starttls-protocol-error';
      return {
        outcome,
        ms,
        cause: `${protocol}: ${e.message}${e.received ? ` after "${e.received}"` : ''}`,
        reply: e.received || undefined,
      };
    }
    return { outcome: 'starttls-protocol-error', ms, cause: `${protocol}: ${(e as Error).message}` };
  } finally {
    d.detach();
  }
}
