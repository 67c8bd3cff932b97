import { describe, expect, test } from 'vitest';
import { EDE_CODES, edeName } from '../../src/core/dns.js';

// The IANA "Extended DNS Error Codes" registry (dns-parameters), values 0-29
// as the registry lists them: INFO-CODE, Purpose, Reference. 0-24 are RFC 8914
// §4; 25-29 came later (RFC 9250 for 26, RFC 9276 for 27).
const IANA_EDE_REGISTRY = `
0,Other Error,[RFC8914, Section 4.1]
1,Unsupported DNSKEY Algorithm,[RFC8914, Section 4.2]
2,Unsupported DS Digest Type,[RFC8914, Section 4.3]
3,Stale Answer,[RFC8914, Section 4.4][RFC8767]
4,Forged Answer,[RFC8914, Section 4.5]
5,DNSSEC Indeterminate,[RFC8914, Section 4.6]
6,DNSSEC Bogus,[RFC8914, Section 4.7]
7,Signature Expired,[RFC8914, Section 4.8]
8,Signature Not Yet Valid,[RFC8914, Section 4.9]
9,DNSKEY Missing,[RFC8914, Section 4.10]
10,RRSIGs Missing,[RFC8914, Section 4.11]
11,No Zone Key Bit Set,[RFC8914, Section 4.12]
12,NSEC Missing,[RFC8914, Section 4.13]
13,Cached Error,[RFC8914, Section 4.14]
14,Not Ready,[RFC8914, Section 4.15]
15,Blocked,[RFC8914, Section 4.16]
16,Censored,[RFC8914, Section 4.17]
17,Filtered,[RFC8914, Section 4.18]
18,Prohibited,[RFC8914, Section 4.19]
19,Stale NXDomain Answer,[RFC8914, Section 4.20]
20,Not Authoritative,[RFC8914, Section 4.21]
21,Not Supported,[RFC8914, Section 4.22]
22,No Reachable Authority,[RFC8914, Section 4.23]
23,Network Error,[RFC8914, Section 4.24]
24,Invalid Data,[RFC8914, Section 4.25]
25,Signature Expired before Valid,[https://github.com/NLnetLabs/unbound/pull/604#discussion_r802678343][Willem_Toorop]
26,Too Early,[RFC9250]
27,Unsupported NSEC3 Iterations Value,[RFC9276]
28,Unable to conform to policy,[draft-homburg-dnsop-codcp-00]
29,Synthesized,[https://github.com/PowerDNS/pdns/pull/12334][Otto_Moerbeek]
`;

const rows = IANA_EDE_REGISTRY.trim()
  .split('\n')
  .map((l) => {
    const [code, purpose] = l.split(',');
    return [Number(code), purpose!] as const;
  });

describe('Extended DNS Error codes (RFC 8914) decode by their registry names', () => {
  test('the registry copy holds 0-29', () => {
    expect(rows.map(([c]) => c)).toEqual(Array.from({ length: 30 }, (_, i) => i));
  });
  test.each(rows)('EDE %i is "%s"', (code, purpose) => {
    expect(EDE_CODES[code]).toBe(purpose);
    expect(edeName(code)).toBe(purpose);
  });
  test('the table holds no code the registry copy does not', () => {
    expect(
      Object.keys(EDE_CODES)
        .map(Number)
        .sort((a, b) => a - b),
    ).toEqual(rows.map(([c]) => c));
  });
  test('an unassigned or newer code is named by number', () => {
    expect(edeName(30)).toBe('EDE30');
    expect(edeName(49152)).toBe('EDE49152');
  });
});
