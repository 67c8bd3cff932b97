import { createSocket } from 'node:dgram';
import { isIP } from 'node:net';

/**
 * The local address the kernel picks to reach `address` (the source address
 * of the run's connections to it, no bind given): a UDP socket connected to
 * the address asks the routing table and sends nothing. Null when there is
 * no route.
 */
export function sourceAddress(address: string, family: 4 | 6, port: number): Promise<string | null> {
  // Never a name: connecting a UDP socket to one would ask the system resolver.
  if (isIP(address) !== family) return Promise.resolve(null);
  return new Promise((resolve) => {
    const sock = createSocket(family === 6 ? 'udp6' : 'udp4');
    const done = (v: string | null) => {
      try {
        sock.close();
      } catch {
        /* closed */
      }
      resolve(v);
    };
    sock.once('error', () => done(null));
    try {
      sock.connect(port, address, () => {
        try {
          done(sock.address().address);
        } catch {
          done(null);
        }
      });
    } catch {
      done(null);
    }
  });
}
