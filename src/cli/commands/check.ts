import type { Command } from 'commander';
import { isIP } from 'node:net';
import {
  ConfigError,
  exposition,
  formatIssue,
  loadChecksFile,
  runChecks,
  startCheckServer,
  STATE_CODE,
  textfileName,
  worst,
  writeTextfile,
  type ChecksConfig,
} from '../../checks/index.js';
import { ConndxError, isConndxError } from '../../errors.js';
import { renderCheckOutput, renderConfigIssues, renderPlan, countStates, type CheckReport } from '../../report/check.js';
import { makeMeta } from '../../core/meta.js';
import { PROBERS } from '../../probes/registry.js';
import { warn, write, type CliContext } from '../context.js';
import { parseHostPort, parsePositiveInt } from '../../parse.js';

const DEFAULT_MAX_CONCURRENT = 16;
const DEFAULT_LISTEN = '127.0.0.1:9115';
/** Event-loop lag past which `check` warns that its latencies include waiting for this process. */
const LOOP_LAG_WARN_MS = 20;

/** Problem lines printed for a bad config; the rest are counted. */
export const MAX_PROBLEM_LINES = 20;

/** A config that cannot be used: UNKNOWN on stdout (Nagios reads it), every problem on stderr. */
async function reportBadConfig(ctx: CliContext, e: ConfigError, json: boolean): Promise<void> {
  if (json) {
    await write(
      ctx.stdout,
      JSON.stringify(
        {
          status: 'UNKNOWN',
          exitCode: 3,
          summary: `CONNDX UNKNOWN - bad config: ${formatIssue(e.issues[0]!)}`,
          errors: e.issues,
          meta: makeMeta(ctx.argv),
        },
        null,
        2,
      ) + '\n',
    );
  } else {
    await write(ctx.stdout, renderConfigIssues(e.issues, formatIssue));
  }
  // stderr repeats the problems for a person while stdout goes to a monitoring system; on one
  // terminal (both a TTY) they are said once, on stdout. At most MAX_PROBLEM_LINES: 20,000
  // duplicate names are not 20,000 lines.
  if (!(ctx.stdout.isTTY && ctx.stderr.isTTY)) {
    for (const i of e.issues.slice(0, MAX_PROBLEM_LINES)) ctx.stderr.write(`conndx: ${formatIssue(i)}\n`);
    if (e.issues.length > MAX_PROBLEM_LINES) ctx.stderr.write(`conndx: … and ${e.issues.length - MAX_PROBLEM_LINES} more problems\n`);
  }
  ctx.exitCode = 3;
}

/**
 * --config is checked in the action, not by commander's requiredOption: commander reports a missing
 * required option before an unknown one, so `--cnofig x.yaml` would get no "did you mean --config".
 */
function requireConfig(o: Record<string, unknown>): void {
  if (o.config === undefined) throw new ConndxError('CONNDX_BAD_ARGUMENT', "required option '--config <file>' not specified");
}

/** Config specs without the PEM contents, for --dry-run --json. */
function planJson(cfg: ChecksConfig) {
  return cfg.checks.map((c) => ({
    ...c,
    ...(c.tls
      ? {
          tls: {
            ...c.tls,
            ca: c.tls.ca ? '(PEM)' : undefined,
            cert: c.tls.cert ? '(PEM)' : undefined,
            key: c.tls.key ? '(PEM)' : undefined,
          },
        }
      : {}),
  }));
}

export function registerCheck(program: Command, ctx: CliContext): Command {
  const cmd = program
    .command('check')
    .description('run synthetic checks once (Nagios/Icinga plugin): one status line, perfdata, exit 0 OK 1 WARNING 2 CRITICAL 3 UNKNOWN')
    .option('--config <file>', 'YAML file of checks, required (at most 1 MiB; ca: files at most 4 MiB)')
    .option('--dry-run', 'validate the config and print what each check would do, without probing')
    .option('--json', "one JSON object on stdout: every check's state, reasons and result")
    .option('--textfile <dir>', "also write the results for node_exporter's textfile collector into DIR (atomically)")
    .option('--max-concurrent <n>', `checks run at once (default ${DEFAULT_MAX_CONCURRENT})`)
    .addHelpText(
      'after',
      `
Examples:
  conndx check --config checks.yaml
  conndx check --config checks.yaml --dry-run
  conndx check --config checks.yaml --textfile /var/lib/prometheus/node-exporter

The config:
  checks:
    - name: api-tls
      tls: api.example.com:443
      expect: { minTlsVersion: TLSv1.3, certDaysLeft: 21, p99: 300ms, successRate: 0.99 }
      warn: { p99: 150ms, certDaysLeft: 30 }
    - name: resolvers
      dns: api.example.com
      server: [10.0.0.2, 10.0.0.3]
      expect: { rcode: NOERROR, p99: 50ms }

expect: CRITICAL thresholds; warn: WARNING thresholds (successRate p50 p90 p99 minTlsVersion
certDaysLeft rcode). Without a successRate, all attempts failing is CRITICAL and some failing
WARNING. Each check makes 3 attempts by default, all at once, each within 3s.
Exit codes: 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN (bad config, or a check that could not run).`,
    );
  cmd.action(async (o: Record<string, unknown>) => {
    requireConfig(o);
    const json = Boolean(o.json);
    const maxConcurrent =
      o.maxConcurrent === undefined
        ? DEFAULT_MAX_CONCURRENT
        : parsePositiveInt(String(o.maxConcurrent), '--max-concurrent', { max: 10_000 });
    let cfg: ChecksConfig;
    try {
      cfg = loadChecksFile(String(o.config));
    } catch (e) {
      if (e instanceof ConfigError) return reportBadConfig(ctx, e, json);
      throw e;
    }
    if (o.dryRun) {
      if (json)
        await write(ctx.stdout, JSON.stringify({ file: cfg.file, checks: planJson(cfg), meta: makeMeta(ctx.argv) }, null, 2) + '\n');
      else
        await write(
          ctx.stdout,
          renderPlan(cfg.file, cfg.checks, (s) => PROBERS[s.probe].planWords?.((s as unknown as Record<string, unknown>)[s.probe]) ?? []),
        );
      ctx.exitCode = 0;
      return;
    }

    const runs = await runChecks(cfg.checks, { maxConcurrent, signal: ctx.stop, argv: ctx.argv });
    const status = worst(runs.map((r) => r.verdict.state));
    const { summary, text } = renderCheckOutput(runs, status);
    if (json) {
      const report: CheckReport = {
        status,
        exitCode: STATE_CODE[status],
        summary,
        counts: countStates(runs),
        checks: runs.map((r) => ({
          name: r.name,
          probe: r.probe,
          target: r.target,
          state: r.verdict.state,
          reasons: r.verdict.reasons,
          durationMs: r.durationMs,
          measures: r.verdict.measures,
          ...(r.unresolved ? { unresolved: r.unresolved } : {}),
          ...(r.error ? { error: r.error } : {}),
          result: r.result,
        })),
        meta: makeMeta(ctx.argv),
      };
      await write(ctx.stdout, JSON.stringify(report, null, 2) + '\n');
    } else {
      await write(ctx.stdout, text);
    }
    ctx.exitCode = STATE_CODE[status];
    // Timers running late mean this machine was busy: the latencies measured meanwhile include that wait.
    const lag = Math.max(
      0,
      ...runs.map((r) => (r.result?.timing as { loopLagMs?: { p99: number } | null } | undefined)?.loopLagMs?.p99 ?? 0),
    );
    if (lag > LOOP_LAG_WARN_MS) {
      warn(
        ctx,
        `this process was busy: timers ran up to ${Math.round(lag)} ms late (p99), so latencies may be inflated by about that much`,
      );
    }

    if (o.textfile !== undefined) {
      const specs = new Map(cfg.checks.map((c) => [c.name, c]));
      const { text: prom } = await exposition(
        runs.map((run) => ({ spec: specs.get(run.name)!, run })),
        { checkLabel: true },
      );
      try {
        writeTextfile(String(o.textfile), textfileName(cfg.file), prom);
      } catch (e) {
        if (!isConndxError(e)) throw e;
        ctx.stderr.write(`conndx: ${e.message}\n`);
        ctx.exitCode = 3;
      }
    }
  });
  return cmd;
}

/** "127.0.0.1:9115", "[::1]:9115", "0.0.0.0:9115"; port 0 picks a free port. */
export function parseListen(text: string): { host: string; port: number } {
  const zero = /:0$/.test(text);
  try {
    const hp = parseHostPort(zero ? text.replace(/:0$/, ':1') : text);
    return { host: hp.host, port: zero ? 0 : hp.port };
  } catch {
    throw new ConndxError('CONNDX_BAD_ARGUMENT', `bad --listen "${text}": use host:port, e.g. 127.0.0.1:9115 or [::1]:9115`);
  }
}

const isLoopback = (host: string) => host === 'localhost' || host === '::1' || (isIP(host) === 4 && host.startsWith('127.'));

export function registerServe(program: Command, ctx: CliContext): Command {
  const cmd = program
    .command('serve')
    .description('run the checks on their intervals and serve Prometheus /metrics, /probe?module=&target= and /-/healthy')
    .option('--config <file>', 'YAML file of checks, required: at most 1 MiB (SIGHUP reloads it)')
    .option('--listen <host:port>', 'address to listen on (loopback unless told otherwise)', DEFAULT_LISTEN)
    .option('--allow-any-target', '/probe may probe any target, not only those in the config')
    .option('--max-concurrent <n>', `check runs in flight at once, scheduled and /probe together (default ${DEFAULT_MAX_CONCURRENT})`)
    .addHelpText(
      'after',
      `
Examples:
  conndx serve --config checks.yaml
  conndx serve --config checks.yaml --listen 0.0.0.0:9115      # reachable from other hosts
  curl -s 'http://127.0.0.1:9115/probe?module=api-tls&target=api.example.com:443'

Each check runs every \`interval\` (default 60s, with ±10% jitter), one run of a check at a
time: a slow check skips its own turn and never delays the others. /probe runs the named
check's settings (module) against the given target now; the target must be one of the
config (for a dns module: one of its servers) unless --allow-any-target.
SIGHUP reloads the config (a bad config is logged and the old one kept); SIGTERM stops
scheduling, lets the runs in flight finish and exits.`,
    );
  cmd.action(async (o: Record<string, unknown>) => {
    requireConfig(o);
    const file = String(o.config);
    const maxConcurrent =
      o.maxConcurrent === undefined
        ? DEFAULT_MAX_CONCURRENT
        : parsePositiveInt(String(o.maxConcurrent), '--max-concurrent', { max: 10_000 });
    const listen = parseListen(String(o.listen));
    let cfg: ChecksConfig;
    try {
      cfg = loadChecksFile(file);
    } catch (e) {
      if (e instanceof ConfigError && e.issues.length > 1) {
        for (const i of e.issues) ctx.stderr.write(`conndx: ${formatIssue(i)}\n`);
        throw new ConndxError('CONNDX_BAD_CONFIG', `${file}: ${e.issues.length} problems (above): nothing started`);
      }
      throw e;
    }
    if (!isLoopback(listen.host)) {
      warn(
        ctx,
        `listening on ${listen.host}: anyone who can reach port ${listen.port} can read the results${o.allowAnyTarget ? ' and make conndx probe any target' : ''}`,
      );
    }
    const log = (line: string) => ctx.stderr.write(`${new Date().toISOString()} ${line}\n`);
    let server;
    try {
      server = await startCheckServer(cfg, {
        host: listen.host,
        port: listen.port,
        load: () => loadChecksFile(file),
        allowAnyTarget: Boolean(o.allowAnyTarget),
        maxConcurrent,
        log,
        argv: ctx.argv,
      });
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code) throw new ConndxError('CONNDX_BAD_ARGUMENT', `cannot listen on ${String(o.listen)}: ${code}`);
      throw e;
    }
    log(`conndx serve: listening on ${server.url} (${cfg.checks.length} checks from ${file}; /metrics /probe /-/healthy)`);
    const onReload = () => {
      const r = server.reload();
      if (r.ok) log(`config reloaded: ${r.checks} checks`);
      else log(`config reload failed, keeping the previous config: ${r.error}`);
    };
    ctx.reload.addEventListener('reload', onReload);
    try {
      if (!ctx.stop.aborted) await new Promise<void>((resolve) => ctx.stop.addEventListener('abort', () => resolve(), { once: true }));
      log('conndx serve: stopping: letting the runs in flight finish');
      await server.close();
      log('conndx serve: stopped');
    } finally {
      ctx.reload.removeEventListener('reload', onReload);
    }
    ctx.exitCode = 0;
  });
  return cmd;
}
