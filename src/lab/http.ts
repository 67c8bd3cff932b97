import * as http from 'node:http';
import type * as net from 'node:net';
import { LAB_HOST, type LabEndpoint, type LabFactory } from './types.js';

/** How long the slow HTTP endpoint waits before its first byte. */
export const HTTP_SLOW_FIRST_BYTE_MS = 1200;

/** Plain HTTP endpoints on loopback: the application phase of `conndx diagnose`. */
function httpEndpoint(
  name: string,
  description: string,
  expect: string,
  handle: (req: http.IncomingMessage, res: http.ServerResponse) => void,
  info?: Record<string, unknown>,
): LabFactory {
  return async (opts) => {
    const host = opts?.host ?? LAB_HOST;
    const timers = new Set<NodeJS.Timeout>();
    const sockets = new Set<net.Socket>();
    const server = http.createServer((req, res) =>
      handle(
        req,
        Object.assign(res, {
          later: (ms: number, f: () => void) => {
            const t = setTimeout(() => {
              timers.delete(t);
              f();
            }, ms);
            timers.add(t);
          },
        }),
      ),
    );
    server.keepAliveTimeout = 1000;
    server.on('connection', (s) => {
      sockets.add(s);
      s.on('error', () => {});
      s.on('close', () => sockets.delete(s));
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, host, () => {
        server.off('error', reject);
        resolve();
      });
    });
    const port = (server.address() as net.AddressInfo).port;
    return {
      name,
      kind: 'http',
      host,
      port,
      description,
      expect,
      ...(info ? { info } : {}),
      close: () =>
        new Promise<void>((resolve) => {
          for (const t of timers) clearTimeout(t);
          for (const s of sockets) s.destroy();
          server.close(() => resolve());
        }),
    } satisfies LabEndpoint;
  };
}

type Later = http.ServerResponse & { later(ms: number, f: () => void): void };

export const HTTP_LAB: Record<string, LabFactory> = {
  'http-ok': httpEndpoint('http-ok', 'answers every request with 200 and a short body', 'ok', (_req, res) => {
    res.writeHead(200, { 'content-type': 'text/plain' });
    res.end('conndx lab\n');
  }),
  'http-503': httpEndpoint('http-503', 'answers every request with 503 Service Unavailable', 'http-503', (_req, res) => {
    res.writeHead(503, { 'content-type': 'text/plain', 'retry-after': '5' });
    res.end('unavailable\n');
  }),
  'http-404': httpEndpoint(
    'http-404',
    'answers every request with 404 Not Found (a health URL that is not there)',
    'http-404',
    (_req, res) => {
      res.writeHead(404, { 'content-type': 'text/plain' });
      res.end('not found\n');
    },
  ),
  'http-slow': httpEndpoint(
    'http-slow',
    `answers with 200 after ${HTTP_SLOW_FIRST_BYTE_MS} ms (a slow first byte)`,
    'ok',
    (_req, res) => {
      (res as Later).later(HTTP_SLOW_FIRST_BYTE_MS, () => {
        if (res.destroyed) return;
        res.writeHead(200, { 'content-type': 'text/plain' });
        res.end('slow\n');
      });
    },
    { firstByteMs: HTTP_SLOW_FIRST_BYTE_MS },
  ),
};
