import * as net from 'node:net';
import { listenTracked } from './listen.js';
import { formatHostPort } from '../parse.js';
import { TLS_LAB } from './tls.js';
import { LAB_HOST, type LabEndpoint, type LabFactory } from './types.js';

/**
 * HTTP CONNECT proxy lab endpoints. The tunnelling one only ever connects to
 * loopback addresses (127.0.0.0/8, ::1): a CONNECT to anything else gets 403.
 * Each starts its own valid TLS server (tls-ok) as the target to ask for.
 */

/** Only loopback address literals: the lab never opens a connection off this machine. */
export function isLoopbackLiteral(host: string): boolean {
  if (net.isIPv4(host)) return host.startsWith('127.');
  return net.isIPv6(host) && (host === '::1' || host === '0:0:0:0:0:0:0:1');
}

function reply(s: net.Socket, status: string): void {
  s.end(`HTTP/1.1 ${status}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n`);
}

type Decide = (authority: { host: string; port: number } | null, s: net.Socket, sockets: Set<net.Socket>) => void;

/** Tunnels CONNECT host:port to loopback targets; anything else is 403, a target that cannot be reached 502. */
const tunnel: Decide = (a, s, sockets) => {
  if (!a) return reply(s, '400 Bad Request');
  if (!isLoopbackLiteral(a.host)) return reply(s, '403 Forbidden');
  const up = net.connect({ host: a.host, port: a.port });
  sockets.add(up);
  up.on('close', () => sockets.delete(up));
  up.once('error', () => {
    if (!s.destroyed) reply(s, '502 Bad Gateway');
    up.destroy();
  });
  up.once('connect', () => {
    s.write('HTTP/1.1 200 Connection Established\r\n\r\n');
    up.on('error', () => s.destroy());
    s.on('error', () => up.destroy());
    s.pipe(up);
    up.pipe(s);
  });
};

const deny: Decide = (_a, s) => reply(s, '403 Forbidden');

function proxyEndpoint(name: string, description: string, expect: string, decide: Decide): LabFactory {
  return async (opts) => {
    const host = opts?.host ?? LAB_HOST;
    const target: LabEndpoint = await TLS_LAB['tls-ok']!({ host });
    // The clients' sockets and the tunnels' upstream ones: close() ends them all.
    const sockets = new Set<net.Socket>();
    const server = net.createServer((s) => {
      let head = '';
      const onData = (d: Buffer) => {
        head += d.toString('latin1');
        const end = head.indexOf('\r\n\r\n');
        if (end < 0) {
          if (head.length > 8192) reply(s, '431 Request Header Fields Too Large');
          return;
        }
        s.off('data', onData);
        s.pause();
        const m = /^CONNECT (\[[^\]]+\]|[^\s:]+):(\d{1,5}) HTTP\/1\.[01]\r\n/.exec(head);
        const a = m ? { host: m[1]!.replace(/^\[|\]$/g, ''), port: Number(m[2]) } : null;
        // Bytes after the head (a client that does not wait for 200) go up the tunnel first.
        const rest = Buffer.from(head.slice(end + 4), 'latin1');
        if (rest.length) s.unshift(rest);
        decide(a, s, sockets);
      };
      s.on('data', onData);
    });
    const l = await listenTracked(server, host, sockets);
    return {
      name,
      kind: 'tls',
      host,
      port: l.port,
      description,
      expect,
      info: { ...target.info, proxyTarget: formatHostPort(target.host, target.port) },
      close: async () => {
        await l.close();
        await target.close();
      },
    };
  };
}

export const PROXY_LAB: Record<string, LabFactory> = {
  'proxy-connect': proxyEndpoint(
    'proxy-connect',
    'an HTTP CONNECT proxy that tunnels to loopback addresses only (info.proxyTarget: a valid TLS server behind it)',
    'ok',
    tunnel,
  ),
  'proxy-deny': proxyEndpoint('proxy-deny', 'an HTTP CONNECT proxy that answers every CONNECT with 403 Forbidden', 'proxy-denied', deny),
};
