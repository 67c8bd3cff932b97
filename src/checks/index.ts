export {
  loadChecksFile,
  parseChecks,
  formatIssue,
  ConfigError,
  CHECK_DEFAULTS,
  type CheckSpec,
  type ChecksConfig,
  type ConfigIssue,
  type Thresholds,
} from './config.js';
export { buildCheckPlan, withTarget, resolvConfServers, type BuiltPlan, type Unresolved } from './plans.js';
export { judgeCheck, worst, STATE_CODE, STATES, type State, type Verdict, type Measure } from './verdict.js';
export { runCheck, runChecks, createLimiter, type CheckRun, type Limiter } from './run.js';
export { exposition, registerCheckMetrics, newCheckState, recordRun, outcomePhase, failurePhase, type CheckState } from './metrics.js';
export { startCheckServer, type CheckServer, type ServeOptions } from './serve.js';
export { textfileName, writeTextfile } from './textfile.js';
