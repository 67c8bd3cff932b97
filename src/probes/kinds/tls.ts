import { ENGINE_OUTCOMES, TCP_OUTCOMES, TLS_OUTCOMES } from '../../core/types.js';
import type { ProbeKindInfo } from './kind.js';

/** The port a tls target without one is probed on. */
export const TLS_DEFAULT_PORT = 443;

export const tlsKind: ProbeKindInfo = {
  name: 'tls',
  phase: 'tls',
  defaultPort: TLS_DEFAULT_PORT,
  // TLS alerts (alert:<name>) are open-ended: they appear when first seen.
  outcomes: [...TLS_OUTCOMES, ...TCP_OUTCOMES.filter((o) => o !== 'ok').map((o) => `tcp:${o}`), ...ENGINE_OUTCOMES],
};
