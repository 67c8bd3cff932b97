import { ENGINE_OUTCOMES } from '../../core/types.js';
import type { ProbeKindInfo } from './kind.js';

/**
 * The request phase of `diagnose` (src/diagnose/http.ts): app-level, after tcp
 * and tls. `http-<status>`, `tcp:<outcome>` and `tls:<outcome>` are open-ended.
 */
export const httpKind: ProbeKindInfo = {
  name: 'http',
  phase: 'app',
  defaultPort: 443,
  outcomes: ['ok', 'timeout', 'reset', 'closed', 'malformed', 'no-h2', ...ENGINE_OUTCOMES],
};
