// SpecError (a located, actionable problem in a spec), "did you mean" suggestions, and the
// human-readable rendering of a list of problems.
import { relative, isAbsolute } from 'node:path';
import { distance } from 'fastest-levenshtein';

export interface SpecError {
  /** Absolute path of the spec file. */
  file: string;
  /** 1-based line; 0 when the problem concerns the file as a whole. */
  line: number;
  /** 1-based column; 0 when the problem concerns the file as a whole. */
  col: number;
  /** Dotted path of the offending field, e.g. `services.web.probes.liveness.periodSeconds` ("" for the whole spec). */
  path: string;
  message: string;
  hint?: string;
}

/** The closest candidate to `word`, if it is close enough to be a plausible typo. */
export function didYouMean(word: string, candidates: Iterable<string>): string | undefined {
  const w = word.toLowerCase();
  let best: string | undefined;
  let bestScore = Infinity;
  for (const c of candidates) {
    const lc = c.toLowerCase();
    if (lc === w) return c;
    let score = distance(w, lc);
    const limit = Math.max(2, Math.floor(Math.max(w.length, lc.length) / 3));
    if (score > limit) {
      // A prefix or a word contained in the other ("stopGracePeriod" for "stopGracePeriodSeconds").
      if (w.length >= 3 && (lc.startsWith(w) || w.startsWith(lc) || lc.includes(w))) score = limit;
      else continue;
    }
    if (score < bestScore) {
      bestScore = score;
      best = c;
    }
  }
  return best;
}

/** `"a"`, `"a" or "b"`, `"a", "b" or "c"` — for listing allowed values. */
export function listOr(items: readonly string[], quote = '`', word = 'or'): string {
  const q = items.map((i) => `${quote}${i}${quote}`);
  if (q.length <= 1) return q.join('');
  return `${q.slice(0, -1).join(', ')} ${word} ${q[q.length - 1]}`;
}

/** `"a" and "b"` */
export function listAnd(items: readonly string[], quote = '`'): string {
  return listOr(items, quote, 'and');
}

export function joinPath(path: readonly (string | number)[]): string {
  return path.map(String).join('.');
}

export function sortErrors(errors: SpecError[]): SpecError[] {
  return [...errors].sort((a, b) => a.file.localeCompare(b.file) || a.line - b.line || a.col - b.col || a.path.localeCompare(b.path));
}

export interface FormatOptions {
  /** ANSI colours (for a terminal). */
  color?: boolean;
  /** Print file names relative to this directory when they are below it. */
  relativeTo?: string;
  /** The noun of the summary line: "3 problems" (default) or "3 warnings". */
  kind?: 'problem' | 'warning';
}

/** One line per problem, `file:line:col: path: message (hint)`, then a summary line `N problems`. */
export function formatSpecErrors(errors: readonly SpecError[], opts: FormatOptions = {}): string {
  const c = (code: string, s: string) => (opts.color ? `\x1b[${code}m${s}\x1b[0m` : s);
  const lines = errors.map((e) => {
    let file = e.file;
    if (opts.relativeTo !== undefined) {
      const r = relative(opts.relativeTo, e.file);
      if (r !== '' && !r.startsWith('..') && !isAbsolute(r)) file = r;
    }
    const loc = e.line > 0 ? `${file}:${e.line}:${e.col}` : file;
    const path = e.path ? `${c('1', e.path)}: ` : '';
    const hint = e.hint ? ` ${c('2', `(${e.hint})`)}` : '';
    return `${c('36', loc)}: ${path}${c('31', e.message)}${hint}`;
  });
  const n = errors.length;
  const noun = opts.kind ?? 'problem';
  lines.push(`${n} ${noun}${n === 1 ? '' : 's'}`);
  return lines.join('\n');
}
