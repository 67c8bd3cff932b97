/**
 * Help fits 100 columns for every command: commander wraps the option list
 * (`helpWidth`), and the text a command adds after it (examples, notes) is
 * fitted here. A command is never broken: an example's trailing `# comment`
 * moves to the line below it instead, and prose wraps under its own label.
 */
export const HELP_WIDTH = 100;

const COMMAND = /^\s*(sudo |conndx |curl |tcpdump |dig |openssl |sh -c )/;

function wrapWords(text: string, width: number, first: string, indent: string): string[] {
  const out: string[] = [];
  let line = first;
  let empty = true;
  for (const w of text.split(/\s+/).filter(Boolean)) {
    if (!empty && line.length + 1 + w.length > width) {
      out.push(line);
      line = indent + w;
    } else line += (empty ? '' : ' ') + w;
    empty = false;
  }
  out.push(line);
  return out;
}

function fitLine(line: string, width: number): string[] {
  if (line.length <= width) return [line];
  const lead = /^\s*/.exec(line)![0];
  const example = /^(\s*)(\S.*?)\s+(#\s.*)$/.exec(line);
  if (example && COMMAND.test(example[2]!)) {
    const cmd = `${example[1]}${example[2]}`;
    return [cmd, ...wrapWords(example[3]!, width, `${example[1]}    `, `${example[1]}      `)];
  }
  if (COMMAND.test(line)) return [line];
  // "Outcomes: a b c …" continues under its first word; an indented list under itself.
  const label = /^(\s*[A-Za-z][\w ()/-]{0,24}:\s+)\S/.exec(line)?.[1];
  const indent = label ? ' '.repeat(label.length) : lead.length >= 4 ? lead : `${lead}  `;
  return wrapWords(line.slice(lead.length), width, lead, indent);
}

/** Every line of a help text at most `width` columns (commands excepted, which are never broken). */
export function fitHelp(text: string, width = HELP_WIDTH): string {
  return text
    .split('\n')
    .flatMap((l) => fitLine(l, width))
    .join('\n');
}
