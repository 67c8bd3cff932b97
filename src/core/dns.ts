/**
 * The one DNS vocabulary of conndx: response codes (RFC 6895 §2.3 names, as
 * dig and tshark print them) and query types. The probe, the capture
 * analyser and checks config all read these.
 */

export const RCODE_NAMES: Readonly<Record<number, string>> = {
  0: 'NOERROR',
  1: 'FORMERR',
  2: 'SERVFAIL',
  3: 'NXDOMAIN',
  4: 'NOTIMP',
  5: 'REFUSED',
  6: 'YXDOMAIN',
  7: 'YXRRSET',
  8: 'NXRRSET',
  9: 'NOTAUTH',
  10: 'NOTZONE',
};

/** The rcode names in number order (what checks config accepts in `expect.rcode`). */
export const RCODE_LIST = Object.values(RCODE_NAMES);

export function rcodeName(rcode: number): string {
  return RCODE_NAMES[rcode] ?? `RCODE${rcode}`;
}

export const QTYPES: Readonly<Record<string, number>> = {
  A: 1,
  NS: 2,
  CNAME: 5,
  SOA: 6,
  PTR: 12,
  HINFO: 13,
  MX: 15,
  TXT: 16,
  AAAA: 28,
  SRV: 33,
  NAPTR: 35,
  DS: 43,
  RRSIG: 46,
  NSEC: 47,
  DNSKEY: 48,
  NSEC3: 50,
  HTTPS: 65,
  SVCB: 64,
  CAA: 257,
  ANY: 255,
};

export const QTYPE_NAMES: Readonly<Record<number, string>> = Object.fromEntries(Object.entries(QTYPES).map(([k, v]) => [v, k]));
