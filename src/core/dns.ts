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
  // Extended rcodes (RFC 6891 §6.1.3: 8 more bits in the OPT record), as named by the IANA registry.
  16: 'BADVERS',
  23: 'BADCOOKIE',
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

/** EDNS(0) option codes conndx sends or reads (IANA "DNS EDNS0 Option Codes (OPT)"). */
export const EDNS_OPTION = {
  NSID: 3, // RFC 5001
  ECS: 8, // RFC 7871, client subnet
  COOKIE: 10, // RFC 7873
  EDE: 15, // RFC 8914, extended DNS error
} as const;

/**
 * Extended DNS Error info-codes (RFC 8914 §4 and the IANA "Extended DNS
 * Error Codes" registry), by the registry's Purpose text. A reply's EDE is
 * printed by this name: 22 is "No Reachable Authority".
 */
export const EDE_CODES: Readonly<Record<number, string>> = {
  0: 'Other Error',
  1: 'Unsupported DNSKEY Algorithm',
  2: 'Unsupported DS Digest Type',
  3: 'Stale Answer',
  4: 'Forged Answer',
  5: 'DNSSEC Indeterminate',
  6: 'DNSSEC Bogus',
  7: 'Signature Expired',
  8: 'Signature Not Yet Valid',
  9: 'DNSKEY Missing',
  10: 'RRSIGs Missing',
  11: 'No Zone Key Bit Set',
  12: 'NSEC Missing',
  13: 'Cached Error',
  14: 'Not Ready',
  15: 'Blocked',
  16: 'Censored',
  17: 'Filtered',
  18: 'Prohibited',
  19: 'Stale NXDomain Answer',
  20: 'Not Authoritative',
  21: 'Not Supported',
  22: 'No Reachable Authority',
  23: 'Network Error',
  24: 'Invalid Data',
  25: 'Signature Expired before Valid',
  26: 'Too Early',
  27: 'Unsupported NSEC3 Iterations Value',
  28: 'Unable to conform to policy',
  29: 'Synthesized',
};

/** An EDE info-code by name; `EDE<n>` for a code the table does not hold (the registry grows). */
export function edeName(code: number): string {
  return EDE_CODES[code] ?? `EDE${code}`;
}
