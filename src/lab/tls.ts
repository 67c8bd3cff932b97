import * as http2 from 'node:http2';
import { listenTracked } from './listen.js';
import * as https from 'node:https';
import * as net from 'node:net';
import type * as tls from 'node:tls';
import { alertName } from '../core/tls.js';
import { labPki, LAB_SERVER_NAME, type KeyPairPem, type LabPki } from './certs.js';
import { LAB_HOST, type LabFactory } from './types.js';

/**
 * TLS lab endpoints: real TLS servers with certificates made at start, and
 * raw TCP servers that misbehave right after the ClientHello.
 */

const noop = (): void => {};

const listen = listenTracked;

const chainOf = (leaf: KeyPairPem, pki: LabPki) => leaf.cert + pki.intermediate.cert;

/** A tiny HTTPS answer, so curl and h2load can talk to the TLS endpoints too. */
function answer(_req: unknown, res: { writeHead(code: number, h: Record<string, string>): void; end(b: string): void }) {
  res.writeHead(200, { 'content-type': 'text/plain' });
  res.end('conndx lab\n');
}

interface TlsServerSpec {
  name: string;
  description: string;
  expect: string;
  options: (pki: LabPki) => tls.TlsOptions;
  info?: (pki: LabPki) => Record<string, unknown>;
  /** Serve HTTP/2 only (node:http2, no HTTP/1.1 fallback) instead of HTTPS. */
  h2Only?: boolean;
}

function baseInfo(pki: LabPki): Record<string, unknown> {
  return { ca: pki.ca.cert, sni: LAB_SERVER_NAME };
}

function tlsEndpoint(spec: TlsServerSpec): LabFactory {
  return async (opts) => {
    const host = opts?.host ?? LAB_HOST;
    const pki = await labPki();
    let server: net.Server;
    if (spec.h2Only) {
      const h2 = http2.createSecureServer({ ...spec.options(pki), allowHTTP1: false }, answer);
      h2.on('sessionError', noop);
      server = h2;
    } else {
      const h1 = https.createServer(spec.options(pki), answer);
      h1.keepAliveTimeout = 1000;
      server = h1;
    }
    const l = await listen(server, host);
    return {
      name: spec.name,
      kind: 'tls',
      host,
      port: l.port,
      description: spec.description,
      expect: spec.expect,
      info: { ...baseInfo(pki), ...spec.info?.(pki) },
      close: l.close,
    };
  };
}

/** Reads one whole TLS record (the ClientHello) from a raw socket, then calls back with it. */
export function onClientHello(socket: net.Socket, cb: (record: Buffer) => void): void {
  let buf = Buffer.alloc(0);
  const onData = (chunk: Buffer) => {
    buf = Buffer.concat([buf, chunk]);
    if (buf.length < 5) return;
    const need = 5 + buf.readUInt16BE(3);
    if (buf.length < need && buf.length < 16_389) return;
    socket.off('data', onData);
    cb(buf);
  };
  socket.on('data', onData);
}

/**
 * The server_name of a ClientHello record (RFC 8446 section 4.1.2, RFC 6066
 * section 3), or null. Every read is checked against the length first.
 */
export function decodeSni(rec: Buffer): string | null {
  let o = 5;
  if (rec.length < o + 4 || rec[0] !== 22 || rec[o] !== 1) return null;
  o += 4 + 2 + 32; // handshake header, legacy_version, random
  if (rec.length < o + 1) return null;
  o += 1 + rec[o]!; // legacy_session_id
  if (rec.length < o + 2) return null;
  o += 2 + rec.readUInt16BE(o); // cipher_suites
  if (rec.length < o + 1) return null;
  o += 1 + rec[o]!; // legacy_compression_methods
  if (rec.length < o + 2) return null;
  const end = Math.min(rec.length, o + 2 + rec.readUInt16BE(o));
  o += 2;
  while (o + 4 <= end) {
    const type = rec.readUInt16BE(o);
    const len = rec.readUInt16BE(o + 2);
    o += 4;
    if (type === 0 && o + 5 <= end) {
      // server_name_list: length, then name_type 0 (host_name), length, name
      const nameLen = rec.readUInt16BE(o + 3);
      if (rec[o + 2] !== 0 || o + 5 + nameLen > end) return null;
      return rec.subarray(o + 5, o + 5 + nameLen).toString('latin1');
    }
    o += len;
  }
  return null;
}

/** A plaintext fatal alert record (RFC 8446 section 6: AlertLevel fatal 2, then the description). */
export function alertRecord(description: number): Buffer {
  return Buffer.from([21, 3, 3, 0, 2, 2, description & 0xff]);
}

/** SNI "alert-<n>.<anything>" chooses the alert the raw alert endpoint sends. */
export const ALERT_SNI = /^alert-(\d{1,3})\./;

function rawEndpoint(
  name: string,
  description: string,
  expect: string,
  onHello: (s: net.Socket, rec: Buffer) => void,
  info: Record<string, unknown> = {},
): LabFactory {
  return async (opts) => {
    const host = opts?.host ?? LAB_HOST;
    const server = net.createServer((s) => onClientHello(s, (rec) => onHello(s, rec)));
    const l = await listen(server, host);
    return { name, kind: 'tls', host, port: l.port, description, expect, info, close: l.close };
  };
}

/** A server that speaks first (SSH, SMTP): its greeting on connect, then it reads and waits, as those servers do. */
function bannerEndpoint(name: string, description: string, banner: string): LabFactory {
  return async (opts) => {
    const host = opts?.host ?? LAB_HOST;
    const server = net.createServer((s) => {
      s.on('error', noop);
      s.write(banner);
      // An SSH server drops a client that sends garbage instead of its own banner.
      s.once('data', () => s.end());
    });
    const l = await listen(server, host);
    return { name, kind: 'tls', host, port: l.port, description, expect: 'not-tls', info: {}, close: l.close };
  };
}

/** The raw alert endpoint: answers every ClientHello with a plaintext alert, `description` unless the SNI chooses another. */
export function createAlertEndpoint(description = 40): LabFactory {
  return rawEndpoint(
    'tls-alert',
    `answers the ClientHello with a plaintext fatal alert (${description}; SNI "alert-N.lab.conndx.test" picks alert N)`,
    `alert:${alertName(description)}`,
    (s, rec) => {
      const m = ALERT_SNI.exec(decodeSni(rec) ?? '');
      const n = m ? Number(m[1]) : description;
      s.end(alertRecord(n));
    },
    { description, sniPattern: 'alert-N.lab.conndx.test' },
  );
}

/** Hands each connection to a TLS server only after `delayMs`: the ClientHello waits in the kernel. */
function slowEndpoint(delayMs: number): LabFactory {
  return async (opts) => {
    const host = opts?.host ?? LAB_HOST;
    const pki = await labPki();
    const inner = https.createServer({ cert: chainOf(pki.valid, pki), key: pki.valid.key }, answer);
    inner.on('tlsClientError', noop);
    const timers = new Set<NodeJS.Timeout>();
    const server = net.createServer({ pauseOnConnect: true }, (s) => {
      const t = setTimeout(() => {
        timers.delete(t);
        if (!s.destroyed) inner.emit('connection', s);
      }, delayMs);
      timers.add(t);
    });
    const l = await listen(server, host);
    return {
      name: 'tls-slow-handshake',
      kind: 'tls',
      host,
      port: l.port,
      description: `a valid TLS server that answers the ClientHello only after ${delayMs} ms`,
      expect: 'ok',
      info: { ...baseInfo(pki), delayMs },
      close: async () => {
        for (const t of timers) clearTimeout(t);
        await l.close();
        inner.close();
      },
    };
  };
}

/** Delay of the slow-handshake endpoint. */
export const SLOW_HANDSHAKE_MS = 250;

export const TLS_LAB: Record<string, LabFactory> = {
  'tls-ok': tlsEndpoint({
    name: 'tls-ok',
    expect: 'ok',
    description: `TLS 1.3 (and 1.2) with a valid chain for ${LAB_SERVER_NAME}, 127.0.0.1 and ::1 (trust the lab CA: conndx lab --ca-out FILE)`,
    options: (p) => ({ cert: chainOf(p.valid, p), key: p.valid.key }),
  }),
  'tls-1.2-only': tlsEndpoint({
    name: 'tls-1.2-only',
    expect: 'ok',
    description: 'accepts TLS 1.2 only: a TLS 1.3-only client gets alert protocol_version',
    options: (p) => ({ cert: chainOf(p.valid, p), key: p.valid.key, minVersion: 'TLSv1.2', maxVersion: 'TLSv1.2' }),
    info: () => ({ versions: { 'TLSv1.2': 'ok', 'TLSv1.3': 'alert:protocol_version' } }),
  }),
  'tls-expired': tlsEndpoint({
    name: 'tls-expired',
    expect: 'cert-expired',
    description: 'serves a leaf that expired 30 days ago',
    options: (p) => ({ cert: chainOf(p.expired, p), key: p.expired.key }),
  }),
  'tls-not-yet-valid': tlsEndpoint({
    name: 'tls-not-yet-valid',
    expect: 'cert-not-yet-valid',
    description: 'serves a leaf valid from 30 days from now',
    options: (p) => ({ cert: chainOf(p.notYetValid, p), key: p.notYetValid.key }),
  }),
  'tls-wrong-host': tlsEndpoint({
    name: 'tls-wrong-host',
    expect: 'cert-hostname-mismatch',
    description: 'serves a leaf for wrong-host.conndx.test only',
    options: (p) => ({ cert: chainOf(p.wrongHost, p), key: p.wrongHost.key }),
  }),
  'tls-self-signed': tlsEndpoint({
    name: 'tls-self-signed',
    expect: 'cert-untrusted',
    description: 'serves a self-signed leaf',
    options: (p) => ({ cert: p.selfSigned.cert, key: p.selfSigned.key }),
  }),
  'tls-missing-intermediate': tlsEndpoint({
    name: 'tls-missing-intermediate',
    expect: 'cert-chain-incomplete',
    description: 'sends its leaf without the intermediate that issued it',
    options: (p) => ({ cert: p.valid.cert, key: p.valid.key }),
  }),
  'tls-private-ca': tlsEndpoint({
    name: 'tls-private-ca',
    expect: 'cert-untrusted',
    description: 'sends a leaf alone from a private CA the client lacks, with no CA Issuers URL (not a missing intermediate)',
    options: (p) => ({ cert: p.privateCaLeaf.cert, key: p.privateCaLeaf.key }),
  }),
  'tls-expiring-soon': tlsEndpoint({
    name: 'tls-expiring-soon',
    expect: 'ok',
    description: 'a valid leaf that expires in 7 days (a warning under 14)',
    options: (p) => ({ cert: chainOf(p.expiringSoon, p), key: p.expiringSoon.key }),
  }),
  'tls-client-cert-required': tlsEndpoint({
    name: 'tls-client-cert-required',
    expect: 'alert:certificate_required',
    description: 'TLS 1.3 server that requires a client certificate from the lab CA (info.clientCert/clientKey)',
    options: (p) => ({
      cert: chainOf(p.valid, p),
      key: p.valid.key,
      requestCert: true,
      rejectUnauthorized: true,
      ca: [p.ca.cert],
      minVersion: 'TLSv1.3',
    }),
    info: (p) => ({ clientCert: p.client.cert + p.intermediate.cert, clientKey: p.client.key }),
  }),
  'tls-alpn-h2-only': tlsEndpoint({
    name: 'tls-alpn-h2-only',
    expect: 'alert:no_application_protocol',
    description: 'an HTTP/2-only server (ALPN h2 only): a client offering http/1.1 alone gets alert no_application_protocol',
    options: (p) => ({ cert: chainOf(p.valid, p), key: p.valid.key, ALPNProtocols: ['h2'] }),
    h2Only: true,
    info: () => ({ alpn: ['http/1.1'] }),
  }),
  'tls-slow-handshake': slowEndpoint(SLOW_HANDSHAKE_MS),
  'tls-rst-after-hello': rawEndpoint(
    'tls-rst-after-hello',
    'resets the connection (RST) on the ClientHello, as an SNI filter does',
    'reset',
    (s) => s.resetAndDestroy(),
  ),
  'tls-fin-after-hello': rawEndpoint('tls-fin-after-hello', 'closes the connection (FIN) on the ClientHello', 'closed', (s) => s.end()),
  'tls-stall-after-hello': rawEndpoint('tls-stall-after-hello', 'reads the ClientHello and never answers', 'timeout', () => {}),
  'tls-alert': createAlertEndpoint(40),
  'tls-plaintext-http': rawEndpoint(
    'tls-plaintext-http',
    'a plain HTTP server on a TLS port: answers the ClientHello with "HTTP/1.1 400 Bad Request"',
    'not-tls',
    (s) => s.end('HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain\r\nConnection: close\r\n\r\nThis is a plain HTTP port.\n'),
  ),
  'tls-ssh-banner': bannerEndpoint(
    'tls-ssh-banner',
    'an SSH server on a TLS port: greets every connection with its banner',
    'SSH-2.0-OpenSSH_9.2p1 conndx-lab\r\n',
  ),
};
