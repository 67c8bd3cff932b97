import { ENGINE_OUTCOMES, TCP_OUTCOMES } from '../../core/types.js';
import type { ProbeKindInfo } from './kind.js';

export const tcpKind: ProbeKindInfo = { name: 'tcp', phase: 'tcp', outcomes: [...TCP_OUTCOMES, ...ENGINE_OUTCOMES] };
