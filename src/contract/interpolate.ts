// Variable interpolation in a YAML spec's string values, with docker compose's rules: `${VAR}` and
// `$VAR`, `${VAR:-default}` (unset or empty) and `${VAR-default}` (unset), `${VAR:?message}` /
// `${VAR?message}` (an error when unset/empty, or unset), `${VAR:+replacement}` / `${VAR+replacement}`,
// `$$` for a literal `$`; defaults and messages may hold variables themselves. Variables come from the
// environment, then from a `.env` file beside the spec (the environment wins, as in compose). Keys
// are never interpolated. An unset `${VAR}` becomes "" with a warning (compose's behaviour); a `$`
// followed by anything else is kept as it is (regex anchors such as `^a$` stay valid), and so is a
// placeholder Berth fills in per instance (`${BERTH_INSTANCE}` in logs.files).
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse as parseDotenv } from 'dotenv';
import type { Problem } from './problem.js';

export type VariableSource = (name: string) => string | undefined;

export interface Interpolated {
  value: unknown;
  errors: Problem[];
  warnings: Problem[];
}

const NAME = /^[A-Za-z_][A-Za-z0-9_]*/;

/**
 * Placeholders Berth itself fills in per instance at run time (`logs.files: [logs/app-${BERTH_INSTANCE}.log]`):
 * a plain reference to one is kept as written, not taken from the environment of `berth`.
 */
export const RUNTIME_PLACEHOLDERS: ReadonlySet<string> = new Set(['BERTH_INSTANCE']);

/** The variables a spec in `dir` sees: the environment, then `dir/.env`. */
export function specVariables(dir: string, env: NodeJS.ProcessEnv = process.env): VariableSource {
  const file = join(dir, '.env');
  let dotenv: Record<string, string> = {};
  if (existsSync(file)) {
    try {
      dotenv = parseDotenv(readFileSync(file));
    } catch {
      // An unreadable .env gives no variables; a variable it was meant to set is then reported where it is used.
    }
  }
  return (name) => env[name] ?? dotenv[name];
}

/** A malformed reference or a required variable without a value: reported at the value's position. */
export class InterpolationError extends Error {}

/** Interpolates one string; `unset` collects variables used bare (`${X}`, `$X`) that have no value. */
export function interpolateString(text: string, vars: VariableSource, unset: string[] = []): string {
  if (!text.includes('$')) return text;
  let out = '';
  let i = 0;
  while (i < text.length) {
    const c = text[i];
    if (c !== '$') {
      out += c;
      i++;
      continue;
    }
    const next = text[i + 1];
    if (next === '$') {
      out += '$';
      i += 2;
      continue;
    }
    if (next === '{') {
      const end = closingBrace(text, i + 2);
      if (end < 0) throw new InterpolationError(`unterminated \`\${\` in ${JSON.stringify(text)}: close it with \`}\`, or write \`$$\` for a literal \`$\``);
      const body = text.slice(i + 2, end);
      out += RUNTIME_PLACEHOLDERS.has(body) ? `\${${body}}` : expand(body, vars, unset);
      i = end + 1;
      continue;
    }
    const m = NAME.exec(text.slice(i + 1));
    if (m && RUNTIME_PLACEHOLDERS.has(m[0])) {
      out += `$${m[0]}`;
      i += 1 + m[0].length;
      continue;
    }
    if (m) {
      const v = vars(m[0]);
      if (v === undefined) unset.push(m[0]);
      out += v ?? '';
      i += 1 + m[0].length;
      continue;
    }
    out += '$'; // not a reference: kept literally
    i++;
  }
  return out;
}

/** The index of the `}` closing a `${` whose body starts at `from` (nested `${…}` counted), or -1. */
function closingBrace(text: string, from: number): number {
  let depth = 1;
  for (let j = from; j < text.length; j++) {
    if (text[j] === '$' && text[j + 1] === '$') j++;
    else if (text[j] === '$' && text[j + 1] === '{') {
      depth++;
      j++;
    } else if (text[j] === '}' && --depth === 0) return j;
  }
  return -1;
}

/** The body of `${…}`: NAME, or NAME followed by an operator (`:-`, `-`, `:?`, `?`, `:+`, `+`) and a word. */
function expand(body: string, vars: VariableSource, unset: string[]): string {
  const m = NAME.exec(body);
  if (!m) throw new InterpolationError(`\`\${${body}}\` does not start with a variable name (letters, digits and _, not starting with a digit)`);
  const name = m[0];
  const rest = body.slice(name.length);
  const value = vars(name);
  if (rest === '') {
    if (value === undefined) unset.push(name);
    return value ?? '';
  }
  const op = /^(:-|-|:\?|\?|:\+|\+)/.exec(rest)?.[1];
  if (op === undefined) throw new InterpolationError(`\`\${${body}}\`: after the name, expected \`}\`, \`:-\`, \`-\`, \`:?\`, \`?\`, \`:+\` or \`+\``);
  const word = (): string => interpolateString(rest.slice(op.length), vars, unset);
  const missing = op.startsWith(':') ? value === undefined || value === '' : value === undefined;
  switch (op) {
    case ':-':
    case '-':
      return missing ? word() : value!;
    case ':?':
    case '?': {
      if (!missing) return value!;
      const message = word();
      throw new InterpolationError(`required variable ${name} is ${value === undefined ? 'not set' : 'empty'}${message ? `: ${message}` : ''}`);
    }
    default: // :+ and +
      return missing ? '' : word();
  }
}

/** Interpolates every string value of parsed spec data; problems carry the path of the value. */
export function interpolate(raw: unknown, vars: VariableSource): Interpolated {
  const errors: Problem[] = [];
  const warnings: Problem[] = [];
  const walk = (v: unknown, path: (string | number)[]): unknown => {
    if (typeof v === 'string') {
      if (!v.includes('$')) return v;
      const unset: string[] = [];
      try {
        const s = interpolateString(v, vars, unset);
        for (const name of new Set(unset)) warnings.push({ path, message: `variable ${name} is not set: using an empty string`, hint: `set it in the environment or in .env beside the spec, give a default with \${${name}:-value}, or write $$ for a literal $` });
        return s;
      } catch (e) {
        if (!(e instanceof InterpolationError)) throw e;
        errors.push({ path, message: e.message });
        return v;
      }
    }
    if (Array.isArray(v)) return v.map((x, i) => walk(x, [...path, i]));
    if (v !== null && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, walk(x, [...path, k])]));
    return v;
  };
  return { value: walk(raw, []), errors, warnings };
}
