import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { analyzeCapture, type ConnectionRecord } from '../../src/capture/index.js';
import { sharedCorpus } from '../helpers/capture-env.js';

const root = sharedCorpus('zeek');

interface Row {
  orig_h: string;
  orig_p: number;
  resp_h: string;
  resp_p: number;
  conn_state: string | null;
  history: string | null;
}

function endpoint(h: string, p: number): string {
  return h.includes(':') ? `[${h}]:${p}` : `${h}:${p}`;
}

/** Compare every expected row with conndx's records of the same unordered endpoint pair, in order. */
export async function compareTrace(
  dir: string,
): Promise<{ rows: number; agree: number; diffs: string[]; histRows: number; histAgree: number }> {
  const exp = JSON.parse(readFileSync(join(dir, 'expected.json'), 'utf8')) as {
    file: { name: string };
    tcp?: Row[];
    zeekRun?: { checksumSensitive?: boolean };
  };
  const rows = (exp.tcp ?? []).filter((r) => r.conn_state);
  const res = await analyzeCapture(join(dir, exp.file.name), { flows: true });
  if (!res.ok) throw new Error(res.reason);
  const byPair = new Map<string, ConnectionRecord[]>();
  for (const c of res.result.connections!) {
    const k = [c.client, c.server].sort().join(' ');
    byPair.set(k, [...(byPair.get(k) ?? []), c]);
  }
  let agree = 0,
    histRows = 0,
    histAgree = 0;
  const diffs: string[] = [];
  const used = new Map<string, number>();
  for (const r of rows) {
    const k = [endpoint(r.orig_h, r.orig_p), endpoint(r.resp_h, r.resp_p)].sort().join(' ');
    const i = used.get(k) ?? 0;
    used.set(k, i + 1);
    const got = byPair.get(k)?.[i];
    if (r.history) {
      histRows++;
      if (got?.history === r.history) histAgree++;
    }
    if (got && got.zeekState === r.conn_state) agree++;
    else
      diffs.push(
        `${dir.split('/').pop()} ${k} #${i}: zeek ${r.conn_state} ${r.history}, conndx ${got ? `${got.zeekState} ${got.history}` : 'no record'}${exp.zeekRun?.checksumSensitive ? ' (zeek validated checksums)' : ''}`,
      );
  }
  return { rows: rows.length, agree, diffs, histRows, histAgree };
}

describe.skipIf(!root)('Zeek conn_state corpus (../shared/corpus/zeek)', () => {
  test('zeekState agrees with conn_state for at least 98% of connections', async () => {
    let rows = 0,
      agree = 0,
      histRows = 0,
      histAgree = 0;
    const diffs: string[] = [];
    for (const d of readdirSync(root!, { withFileTypes: true })) {
      if (!d.isDirectory()) continue;
      const r = await compareTrace(join(root!, d.name));
      rows += r.rows;
      agree += r.agree;
      diffs.push(...r.diffs);
      histRows += r.histRows;
      histAgree += r.histAgree;
    }
    if (diffs.length) console.log(`zeek corpus: ${agree}/${rows} agree\n${diffs.join('\n')}`);
    expect(rows).toBeGreaterThan(50);
    expect(agree / rows).toBeGreaterThanOrEqual(0.98);
    // The history string too (Zeek's own letters), where the baseline has one.
    expect(histAgree / histRows).toBeGreaterThanOrEqual(0.95);
  });
});
if (!root) test.skip('Zeek corpus absent: ../shared/corpus/zeek not found beside the repo', () => {});

interface SslRow {
  orig_h: string;
  orig_p: number;
  resp_h: string;
  resp_p: number;
  version: string | null;
  server_name: string | null;
  established: boolean;
  last_alert: string | null;
}

/** Zeek spells TLSv13, TLSv13-draft16; the contract TLSv1.3, TLSv1.3-draft16. */
function zeekVersion(v: string): string {
  return v.replace(/^TLSv1(\d)/, 'TLSv1.$1');
}

describe.skipIf(!root)('TLS facts agree with Zeek ssl.log', () => {
  test('version, SNI, completion and alert per TLS connection', async () => {
    const diffs: string[] = [];
    let rows = 0;
    for (const d of readdirSync(root!, { withFileTypes: true })) {
      if (!d.isDirectory()) continue;
      const exp = JSON.parse(readFileSync(join(root!, d.name, 'expected.json'), 'utf8')) as {
        file: { name: string };
        ssl?: SslRow[];
        hints?: string[];
      };
      if (!exp.ssl?.length) continue;
      const res = await analyzeCapture(join(root!, d.name, exp.file.name), { flows: true });
      if (!res.ok) throw new Error(res.reason);
      const used = new Map<string, number>();
      for (const s of exp.ssl) {
        const k = [endpoint(s.orig_h, s.orig_p), endpoint(s.resp_h, s.resp_p)].sort().join(' ');
        const i = used.get(k) ?? 0;
        used.set(k, i + 1);
        const got = res.result.connections!.filter((c) => [c.client, c.server].sort().join(' ') === k)[i];
        rows++;
        const want = {
          version: s.version ? zeekVersion(s.version) : null,
          sni: s.server_name,
          // Zeek's `established`: the handshake finished (a later reset is the app phase, not TLS).
          completed: s.established,
          alert: s.last_alert,
        };
        const have = got && {
          version: got.tlsVersion,
          sni: got.sni,
          completed: got.phase === 'ok' || got.phase === 'app',
          alert: got.alert,
        };
        if (JSON.stringify(want) !== JSON.stringify(have))
          diffs.push(`${d.name} ${k}: zeek ${JSON.stringify(want)}, conndx ${JSON.stringify(have)}`);
      }
    }
    if (diffs.length) console.log(diffs.join('\n'));
    expect(rows).toBeGreaterThan(15);
    expect(diffs).toEqual([]);
  });
});
