/**
 * conndx wraps prose at 100 columns: a continued line starts with four spaces more than the
 * line it continues, and a fingerprint breaks after a colon. Tests that look for a phrase or a
 * whole fingerprint read the text joined again.
 */

/** Warnings and other prose lines as one line each (continuations start with 4 spaces). */
export function unwrapProse(text: string): string {
  return text.replace(/\n {4}(?=\S)/g, ' ');
}

/** Colon-separated hex fingerprints broken after a colon, joined. */
export function unwrapFingerprints(text: string): string {
  return text.replace(/:\n +(?=[0-9A-F]{2}(?::|\b))/g, ':');
}

/** The warning lines of a stderr, each joined (a busy machine may add its own warning). */
export function warningLines(stderr: string): string[] {
  return unwrapProse(stderr)
    .split('\n')
    .filter((l) => l.startsWith('warning: '));
}
