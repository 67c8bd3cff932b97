import type { Phase } from '../../core/types.js';

/**
 * What a probe kind is, apart from how it probes: the facts every command,
 * checks and the engine read about it. One module per kind exports one of
 * these; src/probes/registry.ts maps names to them.
 */
export interface ProbeKindInfo {
  name: string;
  /** The phase its ok attempts measure, and the phase of the attempts the engine ends for it. */
  phase: Phase;
  /** The port of a host:port target (for dns: the server's) when it is left out; none: the port is required. */
  defaultPort?: number;
  /** Every outcome it can give that a metric is created for up front (open-ended ones, like alert:<name>, appear when seen). */
  outcomes: readonly string[];
}
