import * as net from 'node:net';
import { Worker } from 'node:worker_threads';
import { LAB_HOST, type LabEndpoint, type LabFactory } from './types.js';

/** How long the slow endpoint waits before answering. */
export const TCP_SLOW_DELAY_MS = 300;

interface Served {
  port: number;
  close(): Promise<void>;
}

/** A net server on loopback port 0 that tracks its sockets so close() ends them all. */
async function serve(host: string, onConnection: (s: net.Socket) => void): Promise<Served> {
  const sockets = new Set<net.Socket>();
  const srv = net.createServer((s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
    s.on('error', () => {}); // the client resetting is part of the game
    onConnection(s);
  });
  await new Promise<void>((resolve, reject) => {
    srv.once('error', reject);
    srv.listen(0, host, () => {
      srv.off('error', reject);
      resolve();
    });
  });
  return {
    port: (srv.address() as net.AddressInfo).port,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        srv.close(() => resolve());
      }),
  };
}

function endpoint(name: string, description: string, expect: string, host: string, s: Served, info?: Record<string, unknown>): LabEndpoint {
  return { name, kind: 'tcp', host, port: s.port, description, expect, ...(info ? { info } : {}), close: s.close };
}

const hostOf = (opts?: { host?: string }) => opts?.host ?? LAB_HOST;

/** Echo: every byte comes back. */
const tcpOpen: LabFactory = async (opts) => {
  const host = hostOf(opts);
  const s = await serve(host, (sock) => sock.pipe(sock));
  return endpoint('tcp-open', 'accepts and echoes what it receives', 'ok', host, s);
};

/** A closed port: the kernel answers each SYN with a RST. */
const tcpRefuse: LabFactory = async (opts) => {
  const host = hostOf(opts);
  // Take a free port from the kernel, then stop listening on it.
  const probe = await serve(host, () => {});
  await probe.close();
  return endpoint('tcp-refuse', 'closed port: each SYN is answered with a RST', 'refused', host, {
    port: probe.port,
    close: async () => {},
  });
};

// The drop endpoint's listener lives in a worker thread whose event loop is
// blocked, so nothing is ever accepted: once its small accept queue is full
// (filled by the lab itself at start), Linux drops every further SYN
// (tcp_conn_request: sk_acceptq_is_full → drop, counted as ListenOverflows).
const DROP_WORKER = `
const { workerData, parentPort } = require('node:worker_threads');
const net = require('node:net');
const srv = net.createServer();
srv.listen({ host: workerData.host, port: 0, backlog: workerData.backlog }, () => {
  parentPort.postMessage(srv.address().port);
  Atomics.wait(new Int32Array(workerData.stop), 0, 0);
  process.exit(0);
});
`;

async function connectsWithin(host: string, port: number, ms: number): Promise<net.Socket | null> {
  return new Promise((resolve) => {
    const s = net.connect({ host, port });
    const t = setTimeout(() => {
      s.destroy();
      resolve(null);
    }, ms);
    s.once('connect', () => {
      clearTimeout(t);
      resolve(s);
    });
    s.once('error', () => {
      clearTimeout(t);
      s.destroy();
      resolve(null);
    });
  });
}

/** SYNs never answered: a listener whose accept queue is full and never drained. */
const tcpDrop: LabFactory = async (opts) => {
  const host = hostOf(opts);
  const stop = new SharedArrayBuffer(4);
  const worker = new Worker(DROP_WORKER, { eval: true, workerData: { host, backlog: 1, stop } });
  const exited = new Promise<void>((resolve) => worker.once('exit', () => resolve()));
  const port = await new Promise<number>((resolve, reject) => {
    worker.once('message', (p: number) => resolve(p));
    worker.once('error', reject);
  });
  const fillers: net.Socket[] = [];
  const close = async () => {
    Atomics.store(new Int32Array(stop), 0, 1);
    Atomics.notify(new Int32Array(stop), 0);
    await exited;
    for (const f of fillers) f.destroy();
  };
  // Fill the queue: connect until a connect no longer completes (its SYN was dropped).
  for (let i = 0; i < 64; i++) {
    const s = await connectsWithin(host, port, 500);
    if (!s) break;
    s.on('error', () => {});
    fillers.push(s);
  }
  if (fillers.length === 0 || fillers.length >= 64) {
    await close();
    throw new Error(`tcp-drop: could not fill the accept queue (${fillers.length} connections completed)`);
  }
  return {
    name: 'tcp-drop',
    kind: 'tcp',
    host,
    port,
    expect: 'timeout',
    description: 'SYNs never answered: a full accept queue that is never drained (a capture shows only SYNs)',
    info: { queued: fillers.length },
    close,
  };
};

/** RST right after accept. */
const tcpRstAccept: LabFactory = async (opts) => {
  const host = hostOf(opts);
  const s = await serve(host, (sock) => sock.resetAndDestroy());
  return endpoint('tcp-rst-accept', 'accepts, then resets the connection at once', 'reset', host, s, { needs: '--hold 500ms' });
};

/** FIN right after accept. */
const tcpFinAccept: LabFactory = async (opts) => {
  const host = hostOf(opts);
  const s = await serve(host, (sock) => sock.end());
  return endpoint('tcp-fin-accept', 'accepts, then closes (FIN) before sending anything', 'closed', host, s, { needs: '--hold 500ms' });
};

/** RST after the first data. */
const tcpRstAfterData: LabFactory = async (opts) => {
  const host = hostOf(opts);
  const s = await serve(host, (sock) => sock.once('data', () => sock.resetAndDestroy()));
  return endpoint('tcp-rst-after-data', 'accepts, then resets the connection when the first data arrives', 'reset', host, s, {
    needs: '--send ping',
  });
};

/** Answers slowly: echoes each chunk after a delay. */
const tcpSlow: LabFactory = async (opts) => {
  const host = hostOf(opts);
  const s = await serve(host, (sock) => {
    sock.on('data', (b) => {
      const t = setTimeout(() => {
        if (!sock.destroyed) sock.write(b);
      }, TCP_SLOW_DELAY_MS);
      sock.once('close', () => clearTimeout(t));
    });
  });
  return endpoint('tcp-slow', `accepts, then echoes what it receives after ${TCP_SLOW_DELAY_MS} ms`, 'ok', host, s, {
    needs: '--send ping',
    delayMs: TCP_SLOW_DELAY_MS,
  });
};

export const TCP_LAB: Record<string, LabFactory> = {
  'tcp-open': tcpOpen,
  'tcp-refuse': tcpRefuse,
  'tcp-drop': tcpDrop,
  'tcp-rst-accept': tcpRstAccept,
  'tcp-fin-accept': tcpFinAccept,
  'tcp-rst-after-data': tcpRstAfterData,
  'tcp-slow': tcpSlow,
};
