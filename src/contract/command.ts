// Turning a `run` string into argv without a shell (POSIX-style quoting rules, no expansion),
// and naming conventions derived from service names.

export class CommandSplitError extends Error {
  readonly hint: string;
  constructor(message: string, hint: string) {
    super(message);
    this.name = 'CommandSplitError';
    this.hint = hint;
  }
}

export type SplitResult = { ok: true; argv: string[] } | { ok: false; message: string; hint: string };

/**
 * Words of characters that no quoting, escaping, comment, operator or substitution rule touches,
 * separated by single spaces (no leading or trailing space).
 */
const PLAIN_WORDS = /^[\w./:=,@%+-]+(?: [\w./:=,@%+-]+)*$/;

const OPERATORS = ['&&', '||', ';;', '>>', '<<', '>&', '<&', '&>', '|&', '|', ';', '&', '>', '<', '(', ')'];

/** The characters an operator starts with (most characters are not: skip the search). */
const OPERATOR_CHARS = '&|;><()';

function shHint(cmd: string): string {
  return `use a list of arguments, or run it through a shell: run: ["sh", "-c", ${JSON.stringify(cmd)}]`;
}

/**
 * Splits a command string into arguments the way a POSIX shell would tokenise it, without
 * running a shell: single and double quotes and backslash escapes are honoured, `$VARS`, globs
 * and `~` are left as written. Shell operators (`&&`, `|`, `;`, `>`, `<`, …), command
 * substitution and unterminated quotes are reported instead of being guessed at.
 */
export function trySplitCommand(run: string | readonly string[]): SplitResult {
  if (Array.isArray(run)) {
    if (run.length === 0) return { ok: false, message: 'the argv list is empty', hint: 'give at least the program to run' };
    return { ok: true, argv: [...run] };
  }
  const s = run as string;
  // Most commands are words of ordinary characters between single spaces: nothing to interpret.
  if (PLAIN_WORDS.test(s)) return { ok: true, argv: s.split(' ') };
  return tokenise(s);
}

/** The tokeniser behind trySplitCommand, for any string (exported to test the shortcut against it). */
export function tokenise(s: string): SplitResult {
  const argv: string[] = [];
  let cur = '';
  let inWord = false;
  let i = 0;
  const fail = (message: string, hint = shHint(s)): SplitResult => ({ ok: false, message, hint });
  while (i < s.length) {
    const c = s[i];
    if (c === ' ' || c === '\t' || c === '\n' || c === '\r') {
      if (inWord) argv.push(cur);
      cur = '';
      inWord = false;
      i++;
      continue;
    }
    if (c === '#' && !inWord) break; // a comment runs to the end of the string
    if (c === "'") {
      const end = s.indexOf("'", i + 1);
      if (end < 0) return fail('the command has an unterminated single quote', "close the quote, or use a list of arguments");
      cur += s.slice(i + 1, end);
      inWord = true;
      i = end + 1;
      continue;
    }
    if (c === '"') {
      i++;
      let closed = false;
      while (i < s.length) {
        const d = s[i];
        if (d === '"') {
          closed = true;
          i++;
          break;
        }
        if (d === '\\' && i + 1 < s.length && '$`"\\\n'.includes(s[i + 1])) {
          if (s[i + 1] !== '\n') cur += s[i + 1];
          i += 2;
          continue;
        }
        if (d === '`' || (d === '$' && s[i + 1] === '(')) {
          return fail('the command uses command substitution, which needs a shell');
        }
        cur += d;
        i++;
      }
      if (!closed) return fail('the command has an unterminated double quote', 'close the quote, or use a list of arguments');
      inWord = true;
      continue;
    }
    if (c === '\\') {
      if (i + 1 < s.length) {
        if (s[i + 1] !== '\n') {
          cur += s[i + 1];
          inWord = true;
        }
        i += 2;
      } else {
        i++;
      }
      continue;
    }
    if (c === '`' || (c === '$' && s[i + 1] === '(')) {
      return fail('the command uses command substitution, which needs a shell');
    }
    const op = OPERATOR_CHARS.includes(c) ? OPERATORS.find((o) => s.startsWith(o, i)) : undefined;
    if (op !== undefined) {
      return fail(`the command contains the shell operator "${op}", but Berth runs it without a shell`);
    }
    cur += c;
    inWord = true;
    i++;
  }
  if (inWord) argv.push(cur);
  if (argv.length === 0) return fail('the command is empty', 'give at least the program to run');
  return { ok: true, argv };
}

/** Like trySplitCommand, but throws a CommandSplitError (with `.hint`) on a command that cannot be split. */
export function splitCommand(run: string | string[]): string[] {
  const r = trySplitCommand(run);
  if (!r.ok) throw new CommandSplitError(r.message, r.hint);
  return r.argv;
}

/** The environment-variable form of a service name: "order-db" → "ORDER_DB" (as in BERTH_ORDER_DB_URL). */
export function envVarName(service: string): string {
  return service.toUpperCase().replace(/[^A-Z0-9]/g, '_');
}

/** A best-effort DNS-1123 label from an arbitrary name: "Order_DB" → "order-db". */
export function toDnsLabel(name: string): string {
  const s = name
    .toLowerCase()
    .replace(/[^a-z0-9-]+/g, '-')
    .replace(/^[^a-z]+/, '')
    .replace(/-+/g, '-')
    .slice(0, 63)
    .replace(/-+$/, '');
  return s;
}
