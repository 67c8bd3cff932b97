import type { LabFactory } from './types.js';
import { DNS_LAB } from './dns.js';
import { DNS_EDNS_LAB } from './dns-edns.js';
import { DNS_SECURE_LAB } from './dns-secure.js';
import { TCP_LAB } from './tcp.js';
import { TLS_LAB } from './tls.js';
import { TLS_RAW_LAB } from './tls-raw.js';
import { NAMES_LAB } from './names.js';
import { HTTP_LAB } from './http.js';
import { STARTTLS_LAB } from './starttls.js';
import { PROXY_LAB } from './proxy.js';

/**
 * Every lab endpoint by name, in the order `conndx lab` lists them.
 * Each probe's lab module exports its own map; add it here.
 */
export const LAB: Record<string, LabFactory> = {
  ...DNS_LAB,
  ...DNS_EDNS_LAB,
  ...DNS_SECURE_LAB,
  ...TCP_LAB,
  ...TLS_LAB,
  ...TLS_RAW_LAB,
  ...NAMES_LAB,
  ...HTTP_LAB,
  ...STARTTLS_LAB,
  ...PROXY_LAB,
};
