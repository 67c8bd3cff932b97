import http2 from 'node:http2';
import https from 'node:https';
import type net from 'node:net';
import tls from 'node:tls';
import { labPki, LAB_SERVER_NAME, type LabPki } from './certs.js';
import { makeResponder } from './dns.js';
import { ednsHandler, LAB_NSID, type EdnsBehaviour, type EdnsLabStats } from './dns-edns.js';
import { formatHostPort } from '../parse.js';
import { LAB_HOST, type LabFactory } from './types.js';

/**
 * The lab's encrypted resolvers: DNS over TLS (RFC 7858) and DNS over HTTPS
 * (RFC 8484) in front of the EDNS-aware lab resolver, with certificates from
 * the lab CA made at start (valid for lab.conndx.test, 127.0.0.1 and ::1).
 * They count connections and TLS handshakes, the truth a client's reuse is
 * checked against.
 */

export interface SecureLabStats extends EdnsLabStats {
  /** TLS handshakes completed. */
  handshakes: number;
  /** DoH requests by method and HTTP version, e.g. "POST h2". */
  requests: Record<string, number>;
}

const newStats = (): SecureLabStats => ({
  queries: 0,
  withOpt: 0,
  validServerCookies: 0,
  badServerCookies: 0,
  handshakes: 0,
  requests: {},
});

const chain = (p: LabPki) => p.valid.cert + p.intermediate.cert;

async function listenOn(server: net.Server, host: string): Promise<number> {
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  server.on('error', () => {});
  return (server.address() as net.AddressInfo).port;
}

function tracked(server: net.Server): Set<net.Socket> {
  const socks = new Set<net.Socket>();
  server.on('connection', (s: net.Socket) => {
    socks.add(s);
    s.on('error', () => {});
    s.on('close', () => socks.delete(s));
  });
  return socks;
}

/**
 * DoT: framed messages over TLS. `closeAfter` closes each connection after that many replies (a server that does not keep
 * them); `ede` answers every query with that rcode and Extended DNS Error.
 */
function dotEndpoint(
  name: string,
  description: string,
  closeAfter?: number,
  b: { ede?: EdnsBehaviour['ede']; expect?: string } = {},
): LabFactory {
  return async (o) => {
    const host = o?.host ?? LAB_HOST;
    const pki = await labPki();
    const stats = newStats();
    const respond = makeResponder(ednsHandler({ nsid: () => LAB_NSID, ...(b.ede ? { ede: b.ede } : {}) }, stats));
    const server = tls.createServer({ cert: chain(pki), key: pki.valid.key, ALPNProtocols: ['dot'] });
    server.on('tlsClientError', () => {});
    server.on('secureConnection', (s) => {
      stats.handshakes++;
      s.on('error', () => {});
      let buf = Buffer.alloc(0);
      let replies = 0;
      let chainP = Promise.resolve();
      s.on('data', (d: Buffer) => {
        buf = Buffer.concat([buf, d]);
        while (buf.length >= 2 && buf.length >= 2 + buf.readUInt16BE(0)) {
          const msg = Buffer.from(buf.subarray(2, 2 + buf.readUInt16BE(0)));
          buf = buf.subarray(2 + msg.length);
          // In order, one after another, as RFC 7766 allows and a simple server does.
          chainP = chainP.then(async () => {
            const out = await respond(msg, 'tcp');
            if (!out || s.destroyed) return;
            const len = Buffer.alloc(2);
            len.writeUInt16BE(out.length);
            s.write(Buffer.concat([len, out]));
            if (closeAfter !== undefined && ++replies >= closeAfter) s.end();
          });
        }
      });
    });
    const socks = tracked(server);
    const port = await listenOn(server, host);
    return {
      name,
      kind: 'dns',
      host,
      port,
      description,
      expect: b.expect ?? 'ok',
      info: { name: 'lab.test', ca: pki.ca.cert, sni: LAB_SERVER_NAME, url: `tls://${formatHostPort(host, port)}`, nsid: LAB_NSID, stats },
      close: () =>
        new Promise<void>((r) => {
          for (const s of socks) s.destroy();
          server.close(() => r());
        }),
    };
  };
}

const DNS_MESSAGE = 'application/dns-message';

/** The reply to one DoH request: status, headers, body. */
async function dohReply(
  respond: (m: Buffer, t: 'udp' | 'tcp') => Promise<Buffer | null>,
  method: string,
  path: string,
  contentType: string | undefined,
  body: Buffer,
  fixedStatus?: number,
): Promise<{ status: number; body: Buffer; type: string }> {
  if (fixedStatus) return { status: fixedStatus, body: Buffer.from('conndx lab: unavailable\n'), type: 'text/plain' };
  const url = new URL(path, 'https://lab.conndx.test');
  if (url.pathname !== '/dns-query') return { status: 404, body: Buffer.from('not found\n'), type: 'text/plain' };
  let msg: Buffer;
  if (method === 'GET') {
    const p = url.searchParams.get('dns');
    if (!p || !/^[A-Za-z0-9_-]+$/.test(p)) return { status: 400, body: Buffer.from('no dns parameter\n'), type: 'text/plain' };
    msg = Buffer.from(p, 'base64url');
  } else if (method === 'POST') {
    if (contentType !== DNS_MESSAGE) return { status: 415, body: Buffer.from('unsupported media type\n'), type: 'text/plain' };
    msg = body;
  } else return { status: 405, body: Buffer.from('method not allowed\n'), type: 'text/plain' };
  const out = await respond(msg, 'tcp');
  if (!out) return { status: 400, body: Buffer.from('not a DNS message\n'), type: 'text/plain' };
  return { status: 200, body: out, type: DNS_MESSAGE };
}

/**
 * DoH: HTTP/2 (and HTTP/1.1 for a client that offers only that) unless
 * `h1Only`, which serves HTTP/1.1 alone, as an older proxy does.
 * `status` answers every request with that HTTP status.
 */
function dohEndpoint(name: string, description: string, expect: string, o: { h1Only?: boolean; status?: number } = {}): LabFactory {
  return async (opt) => {
    const host = opt?.host ?? LAB_HOST;
    const pki = await labPki();
    const stats = newStats();
    const respond = makeResponder(ednsHandler({ nsid: () => LAB_NSID }, stats));
    const count = (k: string) => (stats.requests[k] = (stats.requests[k] ?? 0) + 1);
    let server: net.Server;
    const onRequest = (
      req: http2.Http2ServerRequest | import('node:http').IncomingMessage,
      res: http2.Http2ServerResponse | import('node:http').ServerResponse,
    ) => {
      const chunks: Buffer[] = [];
      req.on('data', (d: Buffer) => chunks.push(d));
      req.on('end', () => {
        count(`${req.method ?? '?'} ${req.httpVersion === '2.0' ? 'h2' : 'h1'}`);
        void dohReply(respond, req.method ?? 'GET', req.url ?? '/', req.headers['content-type'], Buffer.concat(chunks), o.status).then(
          (r) => {
            (res as import('node:http').ServerResponse).writeHead(r.status, {
              'content-type': r.type,
              'content-length': r.body.length,
              'cache-control': 'max-age=0',
            });
            res.end(r.body);
          },
        );
      });
    };
    if (o.h1Only) {
      server = https.createServer({ cert: chain(pki), key: pki.valid.key, ALPNProtocols: ['http/1.1'] }, onRequest);
    } else {
      server = http2.createSecureServer({ cert: chain(pki), key: pki.valid.key, allowHTTP1: true }, onRequest) as unknown as net.Server;
    }
    server.on('secureConnection', () => stats.handshakes++);
    server.on('tlsClientError', () => {});
    const socks = tracked(server);
    const sessions = new Set<http2.ServerHttp2Session>();
    server.on('session', (s: http2.ServerHttp2Session) => {
      sessions.add(s);
      s.on('close', () => sessions.delete(s));
      s.on('error', () => {});
    });
    const port = await listenOn(server, host);
    return {
      name,
      kind: 'dns',
      host,
      port,
      description,
      expect,
      info: {
        name: 'lab.test',
        ca: pki.ca.cert,
        sni: LAB_SERVER_NAME,
        url: `https://${formatHostPort(host, port)}/dns-query`,
        nsid: LAB_NSID,
        stats,
      },
      close: () =>
        new Promise<void>((r) => {
          for (const s of sessions) s.destroy();
          for (const s of socks) s.destroy();
          server.close(() => r());
        }),
    };
  };
}

export const DNS_SECURE_LAB: Record<string, LabFactory> = {
  'dns-dot': dotEndpoint('dns-dot', 'DNS over TLS (RFC 7858) to the EDNS-aware resolver, connections kept (trust the lab CA)'),
  'dns-dot-close': dotEndpoint('dns-dot-close', 'DNS over TLS that closes every connection after one reply', 1),
  'dns-dot-ede': dotEndpoint(
    'dns-dot-ede',
    'DNS over TLS answering SERVFAIL with Extended DNS Error 22 "No Reachable Authority"',
    undefined,
    {
      ede: { code: 22, text: 'lab: no authority answered', rcode: 2 },
      expect: 'servfail',
    },
  ),
  'dns-doh': dohEndpoint('dns-doh', 'DNS over HTTPS (RFC 8484) at /dns-query: HTTP/2, GET and POST (HTTP/1.1 too)', 'ok'),
  'dns-doh-h1': dohEndpoint('dns-doh-h1', 'DNS over HTTPS over HTTP/1.1 only (no h2 in ALPN)', 'ok', { h1Only: true }),
  'dns-doh-503': dohEndpoint('dns-doh-503', 'DNS over HTTPS that answers every request 503 Service Unavailable', 'http-503', {
    status: 503,
  }),
};
