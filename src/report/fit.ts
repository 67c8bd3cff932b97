/**
 * Terminal output fits 100 columns: a line longer than that is prose (an
 * attempt's cause, a header naming many targets, a warning) and wraps at
 * spaces, its continuation indented under it. A command a user is meant to
 * copy is never broken; a token longer than the line (a SHA-256 fingerprint)
 * breaks after one of its colons.
 */
export const OUTPUT_WIDTH = 100;

const ANSI = /\x1b\[[0-9;]*m/g;
const visible = (s: string) => [...s.replace(ANSI, '')].length;

/** A line that is a command to copy: `conndx …`, `$ …`, `try: conndx …`, `sudo …`. */
const COMMAND = /^\s*(\$ |try: |sudo |conndx |openssl |curl |getent |dig |tcpdump )/;

/** The longest head of `token` ending in a colon that is at most `room` wide (a fingerprint's bytes), or null. */
function colonHead(token: string, room: number): string | null {
  if (token.includes('\x1b') || !token.includes(':')) return null;
  const cut = token.lastIndexOf(':', room - 1);
  return cut > 0 && cut < token.length - 1 ? token.slice(0, cut + 1) : null;
}

/** One line fitted to `width`: itself when it fits or is a command, else wrapped with a hanging indent. */
export function fitLine(line: string, width = OUTPUT_WIDTH, hang = 4): string[] {
  if (visible(line) <= width || COMMAND.test(line.replace(ANSI, ''))) return [line];
  const lead = /^\s*/.exec(line)![0];
  const indent = lead + ' '.repeat(hang);
  const words = line.slice(lead.length).split(/ +/).filter(Boolean);
  const out: string[] = [];
  let cur = lead;
  let empty = true;
  for (let w of words) {
    for (;;) {
      const room = width - visible(cur) - (empty ? 0 : 1);
      if (visible(w) <= room) {
        cur += (empty ? '' : ' ') + w;
        empty = false;
        break;
      }
      // A token wider than a whole line (a SHA-256 fingerprint) fills this line up to a colon.
      const head = visible(w) > width - indent.length ? colonHead(w, room) : null;
      if (head) {
        out.push(cur + (empty ? '' : ' ') + head);
        w = w.slice(head.length);
      } else if (empty) {
        cur += w;
        empty = false;
        break;
      } else out.push(cur);
      cur = indent;
      empty = true;
    }
  }
  out.push(cur);
  return out;
}

/** Every line of `text` fitted to `width` (a trailing newline kept). */
export function fitText(text: string, width = OUTPUT_WIDTH): string {
  const nl = text.endsWith('\n');
  const body = (nl ? text.slice(0, -1) : text)
    .split('\n')
    .flatMap((l) => fitLine(l, width))
    .join('\n');
  return nl ? `${body}\n` : body;
}
