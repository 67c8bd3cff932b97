import type { EdnsOptions } from './edns.js';
import {
  makeDnsProbe,
  openUdpChannel,
  type DnsProbeTarget,
  type DnsQuery,
  type DnsUdpChannel,
  type DnsWorkerArgs,
  type WorkerMismatch,
} from './dns.js';

// `conndx dns --workers N` over UDP and TCP: each worker thread rebuilds the
// probe from the query alone and opens a UDP socket per server of its own
// (its own ids outstanding, its own mismatch counts), so N threads send and
// receive in parallel. The main thread folds the records into one result and
// the mismatch counts into its own (planDns's workerReports).

/** A structured clone turns a Buffer into a Uint8Array: make the EDNS bytes Buffers again. */
function ednsFromClone(e: EdnsOptions | null | undefined): EdnsOptions | null | undefined {
  if (!e) return e;
  return {
    ...e,
    ...(e.clientCookie ? { clientCookie: Buffer.from(e.clientCookie) } : {}),
    ...(e.ecs ? { ecs: { ...e.ecs, address: Buffer.from(e.ecs.address) } } : {}),
  };
}

/** The worker's probe: its own channels, the attempts' targets mapped onto them by server key. */
export async function createDnsWorkerProbe(args: DnsWorkerArgs) {
  const query: DnsQuery = { ...args.query, edns: ednsFromClone(args.query.edns) };
  const channels = new Map<string, DnsUdpChannel>();
  const mine = new Map<string, DnsProbeTarget>();
  try {
    for (const server of args.servers) {
      const t: DnsProbeTarget = { server };
      if (!query.tcp) {
        t.udp = await openUdpChannel(server);
        channels.set(server.key, t.udp);
      }
      mine.set(server.key, t);
    }
  } catch (e) {
    for (const c of channels.values()) c.close();
    throw e;
  }
  const probe = makeDnsProbe(query);
  return {
    fn: (t: DnsProbeTarget, signal: AbortSignal) => probe(mine.get(t.server.key) ?? t, signal),
    report: (): WorkerMismatch => {
      const out: WorkerMismatch = {};
      for (const [key, c] of channels) if (c.mismatched()) out[key] = c.mismatchKinds();
      return out;
    },
    close: () => {
      for (const c of channels.values()) c.close();
    },
  };
}
