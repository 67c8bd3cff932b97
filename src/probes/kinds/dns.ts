import { DNS_OUTCOMES, ENGINE_OUTCOMES } from '../../core/types.js';
import type { ProbeKindInfo } from './kind.js';

export const dnsKind: ProbeKindInfo = { name: 'dns', phase: 'dns', defaultPort: 53, outcomes: [...DNS_OUTCOMES, ...ENGINE_OUTCOMES] };
