import * as net from 'node:net';
import { LAB_HOST6, type LabEndpoint } from './types.js';

/**
 * A TLS 1.3 server's certificate_required alert comes after the client's handshake has completed: through
 * a relay's extra hop the probe has already ended when it arrives, so that endpoint stays on 127.0.0.1 only.
 */
const NOT_RELAYED = new Set(['tls-client-cert-required']);

/**
 * The lab's TLS and HTTP endpoints on ::1 too, at the same port as on
 * 127.0.0.1: the loopback resolver answers a name with A 127.0.0.1 and
 * AAAA ::1, so a client that tries ::1 (first, as most do) finds the same
 * endpoint there instead of a refused port. Each ::1 listener relays to its
 * endpoint byte for byte; an RST from the endpoint is passed on as an RST.
 * None when this machine has no ::1 or the port is taken there.
 */
export async function mirrorOnIpv6(eps: LabEndpoint[]): Promise<LabEndpoint[]> {
  const out: LabEndpoint[] = [];
  for (const ep of eps) {
    if ((ep.kind !== 'tls' && ep.kind !== 'http') || ep.host !== '127.0.0.1' || NOT_RELAYED.has(ep.name)) continue;
    const sockets = new Set<net.Socket>();
    const srv = net.createServer((s) => {
      const up = net.connect({ host: ep.host, port: ep.port });
      for (const x of [s, up]) {
        sockets.add(x);
        x.on('close', () => sockets.delete(x));
      }
      s.on('error', () => up.destroy());
      up.on('error', (e: NodeJS.ErrnoException) => (e.code === 'ECONNRESET' ? s.resetAndDestroy() : s.destroy()));
      s.pipe(up);
      up.pipe(s);
    });
    const ok = await new Promise<boolean>((resolve) => {
      srv.once('error', () => resolve(false));
      srv.listen(ep.port, LAB_HOST6, () => resolve(true));
    });
    if (!ok) continue;
    out.push({
      ...ep,
      host: LAB_HOST6,
      description: `${ep.name} on ::1, the same port`,
      close: () =>
        new Promise<void>((r) => {
          for (const s of sockets) s.destroy();
          srv.close(() => r());
        }),
    });
  }
  return out;
}
