import dns2 from 'dns2';
import { serveDns } from './dns.js';
import { LAB_HOST, type LabEndpoint, type LabFactory } from './types.js';

const { Packet } = dns2;
type DnsPacket = InstanceType<typeof Packet>;

/**
 * A lab resolver whose answers can be connected to: names under `lab.test`
 * and `conndx.test` resolve to loopback (A 127.0.0.1, AAAA ::1), so that
 * `conndx diagnose` can follow a name from the lookup to the connect without
 * ever leaving this machine. `*.v4.lab.test` has only the A record,
 * `*.v6.lab.test` only AAAA; a name with an `nx` label (`nx.lab.test`,
 * `db.nx.lab.test`) and names outside the two zones get NXDOMAIN.
 */
export const LOOPBACK_ZONES = ['lab.test', 'conndx.test'] as const;

/** What the loopback resolver holds for a name: addresses per type, or null for NXDOMAIN. */
export function loopbackAnswer(name: string): { A: string[]; AAAA: string[] } | null {
  const n = name.toLowerCase().replace(/\.$/, '');
  const inZone = LOOPBACK_ZONES.some((z) => n === z || n.endsWith(`.${z}`));
  if (!inZone || n.split('.').includes('nx')) return null;
  if (n === 'v4.lab.test' || n.endsWith('.v4.lab.test')) return { A: ['127.0.0.1'], AAAA: [] };
  if (n === 'v6.lab.test' || n.endsWith('.v6.lab.test')) return { A: [], AAAA: ['::1'] };
  return { A: ['127.0.0.1'], AAAA: ['::1'] };
}

function reply(req: DnsPacket): Buffer {
  const res = Packet.createResponseFromRequest(req);
  const q = req.questions[0];
  if (!q) return res.toBuffer();
  const held = loopbackAnswer(q.name);
  if (!held) {
    res.header.rcode = 3;
    return res.toBuffer();
  }
  const T = Packet.TYPE;
  const list = q.type === T.A ? held.A : q.type === T.AAAA ? held.AAAA : [];
  for (const address of list) {
    res.answers.push({ name: q.name, class: Packet.CLASS.IN, ttl: 5, type: q.type, address } as unknown as DnsPacket['answers'][number]);
  }
  return res.toBuffer();
}

/** How slow the slow-tail loopback resolver's slow answers are, and how often. */
export const LOOPBACK_SLOW_MS = 400;
export const LOOPBACK_SLOW_EVERY = 4;

const loopbackDns: LabFactory = async (opts) => {
  const host = opts?.host ?? LAB_HOST;
  const b = await serveDns(reply, host, { cacheable: true });
  return {
    name: 'dns-loopback',
    kind: 'dns',
    host,
    port: b.port,
    expect: 'ok',
    description: 'answers *.lab.test and *.conndx.test with A 127.0.0.1 / AAAA ::1 (*.v4.lab.test: A only), NXDOMAIN otherwise',
    info: { name: 'ok.lab.test' },
    close: b.close,
  } satisfies LabEndpoint;
};

const loopbackSlowTailDns: LabFactory = async (opts) => {
  const host = opts?.host ?? LAB_HOST;
  let n = 0;
  const b = await serveDns(reply, host, {
    cacheable: true,
    delayMs: () => (n++ % LOOPBACK_SLOW_EVERY === LOOPBACK_SLOW_EVERY - 1 ? LOOPBACK_SLOW_MS : 0),
  });
  return {
    name: 'dns-loopback-slow-tail',
    kind: 'dns',
    host,
    port: b.port,
    expect: 'ok',
    description: `as dns-loopback, but every ${LOOPBACK_SLOW_EVERY}th query is answered after ${LOOPBACK_SLOW_MS} ms`,
    info: { name: 'ok.lab.test', slowMs: LOOPBACK_SLOW_MS, every: LOOPBACK_SLOW_EVERY },
    close: b.close,
  } satisfies LabEndpoint;
};

export const NAMES_LAB: Record<string, LabFactory> = {
  'dns-loopback': loopbackDns,
  'dns-loopback-slow-tail': loopbackSlowTailDns,
};
