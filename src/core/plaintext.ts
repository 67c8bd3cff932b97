/**
 * What answered in plaintext where TLS was expected: the first bytes a
 * server sent, named by the protocol they open with. `conndx tls` (after a
 * `not-tls` handshake) and `pcap` (a server's first payload after a
 * ClientHello) both name it here.
 */

/** Text, apart from line ends: tabs and printable ASCII. */
const printable = (b: Uint8Array) => [...b].every((x) => x === 9 || x === 10 || x === 13 || (x >= 32 && x < 127));

/** The first line of a text reply, at most 60 characters, control characters dropped. */
function firstLine(b: Buffer): string {
  const text = b.subarray(0, 200).toString('latin1');
  const line = text.split(/\r?\n/)[0] ?? '';
  const clean = line.replace(/[^\x20-\x7e]/g, '');
  return clean.length > 60 ? `${clean.slice(0, 60)}…` : clean;
}

const RULES: [test: (b: Buffer, s: string) => boolean, name: string][] = [
  [(_b, s) => /^HTTP\/\d/.test(s), 'HTTP'],
  [(_b, s) => s.startsWith('SSH-'), 'SSH'],
  [(_b, s) => /^220[ -]/.test(s), 'an SMTP or FTP greeting'],
  [(_b, s) => s.startsWith('+OK'), 'POP3'],
  [(_b, s) => s.startsWith('* OK') || s.startsWith('* PREAUTH'), 'IMAP'],
  [(_b, s) => s.startsWith('RFB '), 'VNC'],
  [(_b, s) => s.startsWith('-ERR') || s.startsWith('+PONG'), 'Redis'],
  [(b) => b.length >= 5 && b[4] === 0x0a && b[0]! + (b[1]! << 8) + (b[2]! << 16) === b.length - 4, 'a MySQL greeting'],
];

/**
 * Names what a server sent instead of TLS, e.g. `HTTP ("HTTP/1.1 400 Bad
 * Request")`, `SSH ("SSH-2.0-OpenSSH_9.2")`, or the first bytes in hex
 * when they open no protocol conndx knows. Empty input: null.
 */
export function namePlaintext(b: Buffer): string | null {
  if (b.length === 0) return null;
  const s = b.subarray(0, 200).toString('latin1');
  for (const [test, name] of RULES) {
    if (test(b, s)) return printable(b.subarray(0, 16)) ? `${name} ("${firstLine(b)}")` : name;
  }
  const head = b.subarray(0, 16);
  if (printable(head)) return `text ("${firstLine(b)}")`;
  return `bytes ${[...head].map((x) => x.toString(16).padStart(2, '0')).join(' ')}${b.length > 16 ? ' …' : ''}`;
}

/** Does this look like the start of a TLS record (handshake, alert, CCS or data, version 3.x)? */
export function looksLikeTlsRecord(b: Buffer): boolean {
  return b.length >= 3 && b[0]! >= 0x14 && b[0]! <= 0x18 && b[1] === 3 && b[2]! <= 4;
}
