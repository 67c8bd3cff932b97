/**
 * POSIX shell quoting for the commands conndx suggests: pasting one runs
 * exactly the command shown, whatever a target or URL holds (`;id`, `$(…)`,
 * a quote, a glob such as `[::1]`).
 */
export function shq(arg: string): string {
  const s = String(arg);
  if (s !== '' && /^[A-Za-z0-9_@%+=:,./-]+$/.test(s)) return s;
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

/** A command line from its arguments, each quoted as needed. */
export function shellCommand(...args: string[]): string {
  return args.map(shq).join(' ');
}

/**
 * Control characters (C0, DEL, C1) written as escapes, so a target or a
 * server's text never moves the cursor, clears the screen or rings the bell.
 */
export function escapeControl(text: string): string {
  return String(text).replace(/[\u0000-\u001f\u007f-\u009f]/g, (c) => {
    const n = c.charCodeAt(0);
    if (c === '\r') return '\\r';
    if (c === '\n') return '\\n';
    if (c === '\t') return '\\t';
    if (c === '\x1b') return '\\e';
    return n < 0x100 ? `\\x${n.toString(16).padStart(2, '0')}` : `\\u${n.toString(16).padStart(4, '0')}`;
  });
}

/** True when the text holds a control character (tab included): bad in a target, an HTTP path or a header value. */
export function hasControl(text: string): boolean {
  return /[\u0000-\u001f\u007f-\u009f]/.test(String(text));
}
