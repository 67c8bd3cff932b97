import { ConndxError } from '../errors.js';
import { LAB } from './registry.js';
import type { LabEndpoint } from './types.js';

export type { LabEndpoint, LabFactory } from './types.js';
export { LAB } from './registry.js';

/** Starts the named endpoints (all when none are named). Unknown names are bad input. */
export async function startLab(names: string[] = []): Promise<LabEndpoint[]> {
  const wanted = names.length ? names : Object.keys(LAB);
  const unknown = wanted.filter((n) => !LAB[n]);
  if (unknown.length) {
    throw new ConndxError(
      'CONNDX_BAD_ARGUMENT',
      `unknown lab endpoint ${unknown.map((u) => `"${u}"`).join(', ')}; known: ${Object.keys(LAB).join(', ')}`,
    );
  }
  const started: LabEndpoint[] = [];
  try {
    for (const n of wanted) started.push(await LAB[n]!());
  } catch (e) {
    await stopLab(started);
    throw e;
  }
  return started;
}

export async function stopLab(endpoints: LabEndpoint[]): Promise<void> {
  await Promise.allSettled(endpoints.map((e) => e.close()));
}
