/**
 * The ICMP and ICMPv6 error vocabulary (RFC 792, RFC 1812 §5.2.7.1, RFC 4443):
 * one kebab-case name per type and code, and the words the tcp probe uses for
 * the same condition ("host unreachable", "network unreachable").
 */

/** ICMPv4 type 3 (destination unreachable), by code. */
export const ICMP4_UNREACHABLE: readonly string[] = [
  'net-unreachable',
  'host-unreachable',
  'protocol-unreachable',
  'port-unreachable',
  'fragmentation-needed',
  'source-route-failed',
  'net-unknown',
  'host-unknown',
  'source-host-isolated',
  'net-prohibited',
  'host-prohibited',
  'net-tos-unreachable',
  'host-tos-unreachable',
  'admin-prohibited',
  'host-precedence-violation',
  'precedence-cutoff',
];

/** ICMPv6 type 1 (destination unreachable), by code. */
export const ICMP6_UNREACHABLE: readonly string[] = [
  'no-route',
  'admin-prohibited',
  'beyond-scope',
  'address-unreachable',
  'port-unreachable',
  'source-policy-failed',
  'reject-route',
];

/** Time exceeded (ICMPv4 type 11, ICMPv6 type 3), by code. */
export const ICMP4_TIME_EXCEEDED: readonly string[] = ['ttl-exceeded', 'reassembly-time-exceeded'];
export const ICMP6_TIME_EXCEEDED: readonly string[] = ['hop-limit-exceeded', 'reassembly-time-exceeded'];

/** The ICMP error kinds conndx reads: what each means for a connection. */
export type IcmpKind = 'unreachable' | 'time-exceeded' | 'too-big';

export interface IcmpName {
  kind: IcmpKind;
  /** e.g. `admin-prohibited`, `packet-too-big`, `code-17` for an unnamed code. */
  name: string;
}

/** The name of an ICMP (v6 = false) or ICMPv6 error, or null for a message that is not an error conndx reads. */
export function icmpName(v6: boolean, type: number, code: number): IcmpName | null {
  if (!v6) {
    if (type === 3) {
      if (code === 4) return { kind: 'too-big', name: 'fragmentation-needed' };
      return { kind: 'unreachable', name: ICMP4_UNREACHABLE[code] ?? `code-${code}` };
    }
    if (type === 11) return { kind: 'time-exceeded', name: ICMP4_TIME_EXCEEDED[code] ?? `code-${code}` };
    return null;
  }
  if (type === 1) return { kind: 'unreachable', name: ICMP6_UNREACHABLE[code] ?? `code-${code}` };
  if (type === 2) return { kind: 'too-big', name: 'packet-too-big' };
  if (type === 3) return { kind: 'time-exceeded', name: ICMP6_TIME_EXCEEDED[code] ?? `code-${code}` };
  return null;
}

/** In words, as the tcp probe says it: `net-unreachable` → "network unreachable". */
export function icmpWords(name: string): string {
  return name
    .replace(/^net-/, 'network-')
    .replace(/^admin-/, 'administratively-')
    .replace(/-/g, ' ');
}
