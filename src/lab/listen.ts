import type * as net from 'node:net';

const noop = (): void => {};

/**
 * Listens on `host` port 0 and keeps every connection the server holds (in
 * `sockets`, which a caller may also fill, e.g. with a proxy's upstream
 * sockets), so that `close()` ends them all: a lab endpoint never outlives
 * its test.
 */
export async function listenTracked(
  server: net.Server,
  host: string,
  sockets: Set<net.Socket> = new Set(),
): Promise<{ port: number; sockets: Set<net.Socket>; close: () => Promise<void> }> {
  server.on('connection', (s: net.Socket) => {
    sockets.add(s);
    s.on('error', noop);
    s.on('close', () => sockets.delete(s));
  });
  server.on('tlsClientError', noop);
  server.on('error', noop);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const port = (server.address() as net.AddressInfo).port;
  return {
    port,
    sockets,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}
