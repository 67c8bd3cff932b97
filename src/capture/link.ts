/**
 * Link layer: from a link type and a frame to the network-layer protocol and
 * where it starts. Dispatch tables are data (one Map per layer), as in
 * Zeek's packet-protocols/*\/main.zeek.
 */

export type NetProto = 'ipv4' | 'ipv6';

export interface LinkLayer {
  net: NetProto;
  off: number;
}

export type LinkResult = LinkLayer | { anomaly: string };

function hit(net: NetProto, off: number, out?: LinkLayer): LinkLayer {
  if (!out) return { net, off };
  out.net = net;
  out.off = off;
  return out;
}

/** EtherType → next layer. 802.1Q, 802.1ad and the old QinQ tag all carry a VLAN header. */
export const ETHERTYPES = new Map<number, NetProto | 'vlan'>([
  [0x0800, 'ipv4'],
  [0x86dd, 'ipv6'],
  [0x8100, 'vlan'],
  [0x88a8, 'vlan'],
  [0x9100, 'vlan'],
  [0x9200, 'vlan'],
]);

/** BSD loopback address families (AF_INET everywhere; AF_INET6 is 24, 28 or 30 by OS). */
export const NULL_FAMILIES = new Map<number, NetProto>([
  [2, 'ipv4'],
  [24, 'ipv6'],
  [28, 'ipv6'],
  [30, 'ipv6'],
]);

const MAX_VLAN_TAGS = 8;

/** Follow an EtherType (and any VLAN tags) starting with the type field at `typeOff`. */
export function decodeEtherType(buf: Buffer, typeOff: number, end = buf.length, out?: LinkLayer): LinkResult {
  let o = typeOff;
  for (let tags = 0; tags <= MAX_VLAN_TAGS; tags++) {
    if (o + 2 > end) return { anomaly: tags ? 'truncated_vlan_header' : 'truncated_link_header' };
    const type = buf.readUInt16BE(o);
    const next = ETHERTYPES.get(type);
    if (next === undefined) return { anomaly: type < 0x0600 ? 'not_ip_llc' : 'not_ip' };
    if (next !== 'vlan') return hit(next, o + 2, out);
    // VLAN tag: TCI (2 bytes), then the inner EtherType.
    o += 4;
  }
  return { anomaly: 'too_many_vlan_tags' };
}

export function decodeEthernet(buf: Buffer, off = 0, end = buf.length, out?: LinkLayer): LinkResult {
  if (end - off < 14) return { anomaly: 'truncated_link_header' };
  return decodeEtherType(buf, off + 12, end, out);
}

export function decodeNull(buf: Buffer, networkOrder: boolean, off = 0, end = buf.length, out?: LinkLayer): LinkResult {
  if (end - off < 4) return { anomaly: 'truncated_link_header' };
  // DLT_NULL stores the family in the writer's byte order: accept either.
  let af = networkOrder ? buf.readUInt32BE(off) : buf.readUInt32LE(off);
  if (!networkOrder && af > 0xffff) af = buf.readUInt32BE(off);
  const net = NULL_FAMILIES.get(af);
  return net ? hit(net, off + 4, out) : { anomaly: 'not_ip' };
}

export function decodeRaw(buf: Buffer, off = 0, end = buf.length, out?: LinkLayer): LinkResult {
  if (end - off < 1) return { anomaly: 'truncated_ip_header' };
  const v = buf[off]! >> 4;
  if (v === 4) return hit('ipv4', off, out);
  if (v === 6) return hit('ipv6', off, out);
  return { anomaly: 'bad_ip_version' };
}

/** Linux cooked v1: 16-byte header, protocol at offset 14 (pcap-linktype LINKTYPE_LINUX_SLL). */
export function decodeSll(buf: Buffer, off = 0, end = buf.length, out?: LinkLayer): LinkResult {
  if (end - off < 16) return { anomaly: 'truncated_link_header' };
  return decodeEtherType(buf, off + 14, end, out);
}

/** Linux cooked v2: 20-byte header, protocol at offset 0 (LINKTYPE_LINUX_SLL2). */
export function decodeSll2(buf: Buffer, off = 0, end = buf.length, out?: LinkLayer): LinkResult {
  if (end - off < 20) return { anomaly: 'truncated_link_header' };
  const r = decodeEtherType(buf, off, end, out);
  if ('anomaly' in r) return r;
  // The protocol field sits before the rest of the header; the payload starts after all 20 bytes.
  return hit(r.net, r.off === off + 2 ? off + 20 : r.off + 18, out);
}

export type LinkDecoder = (buf: Buffer, off: number, end: number, out?: LinkLayer) => LinkResult;

export const LINK_DECODERS = new Map<number, LinkDecoder>([
  [0, (b, o, e, out) => decodeNull(b, false, o, e, out)], // NULL (BSD loopback)
  [108, (b, o, e, out) => decodeNull(b, true, o, e, out)], // LOOP (OpenBSD loopback)
  [1, decodeEthernet],
  [101, decodeRaw], // RAW
  [12, decodeRaw], // DLT_RAW on some BSDs
  [14, decodeRaw], // DLT_RAW on OpenBSD
  [228, decodeRaw], // IPV4
  [229, decodeRaw], // IPV6
  [113, decodeSll],
  [276, decodeSll2],
]);

export const LINK_NAMES: Record<number, string> = {
  0: 'NULL',
  1: 'EN10MB',
  12: 'RAW',
  14: 'RAW',
  101: 'RAW',
  108: 'LOOP',
  113: 'LINUX_SLL',
  228: 'IPV4',
  229: 'IPV6',
  276: 'LINUX_SLL2',
};

export function isSupportedLinkType(lt: number): boolean {
  return LINK_DECODERS.has(lt);
}

/** `out`, when given, is filled and returned on success (the hot path reuses one). */
export function decodeLink(linkType: number, buf: Buffer, off = 0, end = buf.length, out?: LinkLayer): LinkResult {
  const d = LINK_DECODERS.get(linkType);
  return d ? d(buf, off, end, out) : { anomaly: 'unsupported_link_type' };
}
