// Turning zod issues into Problems a person can act on: plain-language messages that say what
// was found, unknown keys one by one with "did you mean", union failures narrowed to the branch
// the user evidently meant.
import type { z } from 'zod';
import type { PathSeg } from './positions.js';
import type { Problem } from './problem.js';
import { didYouMean, listOr } from './errors.js';
import { allowedKeysAt, isPlainObject, unknownKeyHint } from './shape.js';
import { toDnsLabel } from './command.js';
import { DNS_LABEL_RE } from './schema.js';

type Issue = z.core.$ZodIssue;
type SchemaLike = { _zod: { def: unknown } };

const EXPECTED: Record<string, string> = {
  string: 'a string',
  number: 'a number',
  int: 'a whole number',
  boolean: 'a boolean',
  array: 'a list',
  object: 'a mapping',
  record: 'a mapping',
  null: 'null',
};

export function describeValue(v: unknown): string {
  if (v === undefined) return 'nothing';
  if (v === null) return 'an empty value';
  if (typeof v === 'string') return `the string ${JSON.stringify(v.length > 40 ? `${v.slice(0, 37)}...` : v)}`;
  if (typeof v === 'number') return Number.isInteger(v) ? `the number ${v}` : `the number ${v}`;
  if (typeof v === 'boolean') return `\`${v}\``;
  if (Array.isArray(v)) return 'a list';
  if (typeof v === 'object') return 'a mapping';
  return `a ${typeof v}`;
}

function valueAt(data: unknown, path: readonly PathSeg[]): { value: unknown; parentIsObject: boolean } {
  let v: unknown = data;
  let parent: unknown = undefined;
  for (const seg of path) {
    parent = v;
    if (isPlainObject(v) || Array.isArray(v)) v = (v as Record<string, unknown>)[String(seg)];
    else return { value: undefined, parentIsObject: false };
  }
  return { value: v, parentIsObject: isPlainObject(parent) };
}

/** zod's built-in messages start like this; ours (set in schema.ts) are used as they are. */
function isDefaultMessage(m: string): boolean {
  return /^(Invalid|Too small|Too big|Unrecognized)/.test(m);
}

function typeHint(expected: string, value: unknown): string | undefined {
  if (value === null) return 'the value is empty: in YAML, `key:` with nothing after it means null';
  if (typeof value === 'string' && (expected === 'number' || expected === 'int') && value.trim() !== '' && !Number.isNaN(Number(value)))
    return 'remove the quotes to write a number';
  if (typeof value === 'string' && expected === 'boolean' && /^(true|false)$/i.test(value)) return 'remove the quotes to write true or false';
  if ((expected === 'array') && typeof value === 'string') return `write a list: [${value}]`;
  return undefined;
}

function rangeMessage(issue: Issue & { code: 'too_small' | 'too_big' }, value: unknown): string {
  const small = issue.code === 'too_small';
  const bound = small ? (issue as { minimum: number | bigint }).minimum : (issue as { maximum: number | bigint }).maximum;
  const inclusive = issue.inclusive !== false;
  const got = ` (got ${describeValue(value)})`;
  if (issue.origin === 'array') return small ? `must have at least ${bound} item${bound === 1 ? '' : 's'}` : `must have at most ${bound} items`;
  if (issue.origin === 'string') return small ? (Number(bound) <= 1 ? 'must not be empty' : `must be at least ${bound} characters`) : `must be at most ${bound} characters`;
  if (small) return (inclusive ? `must be at least ${bound}` : `must be greater than ${bound}`) + got;
  return (inclusive ? `must be at most ${bound}` : `must be less than ${bound}`) + got;
}

export interface ConvertContext {
  /** The data that was validated (to describe what was found). */
  data: unknown;
  /** The schema it was validated against (to list allowed keys). */
  schema: SchemaLike;
}

/** Converts one zod issue (and, for unions, the issues of the branch that was meant) into Problems. */
export function issueToProblems(issue: Issue, ctx: ConvertContext, prefix: readonly PathSeg[] = []): Problem[] {
  const path = [...prefix, ...(issue.path as PathSeg[])];
  const { value, parentIsObject } = valueAt(ctx.data, path);
  const last = path[path.length - 1];
  switch (issue.code) {
    case 'invalid_type': {
      if (value === undefined && parentIsObject) {
        return [{ path, message: `missing required field \`${String(last)}\``, hint: requiredHint(String(last), path) }];
      }
      const expected = EXPECTED[issue.expected] ?? issue.expected;
      return [{ path, message: `expected ${expected}, got ${describeValue(value)}`, hint: typeHint(issue.expected, value) }];
    }
    case 'unrecognized_keys': {
      const allowed = allowedKeysAt(ctx.schema, ctx.data, path);
      return issue.keys.map((k) => ({ path: [...path, k], mode: 'key' as const, message: `unknown field \`${k}\``, hint: unknownKeyHint(k, allowed) }));
    }
    case 'invalid_union': {
      if (value === undefined && parentIsObject) {
        return [{ path, message: `missing required field \`${String(last)}\``, hint: requiredHint(String(last), path) }];
      }
      const branches = issue.errors;
      // A branch whose issues are not "wrong type of the whole value" is the one the user meant. A literal
      // of another type (`'none'` against an object) is the wrong type too, not a near miss.
      const wrongKind = (i: Issue): boolean =>
        i.path.length === 0 && (i.code === 'invalid_type' || (i.code === 'invalid_value' && (i as { values: unknown[] }).values.every((v) => typeof v !== typeof value)));
      const meant = branches.filter((b) => b.length > 0 && b.every((i) => !wrongKind(i)));
      if (meant.length > 0) {
        const best = meant.reduce((a, b) => (b.length < a.length ? b : a));
        return best.flatMap((i) => issueToProblems(i, ctx, path));
      }
      const expected = [
        ...new Set(branches.flatMap((b) => b.filter((i) => i.code === 'invalid_type').map((i) => EXPECTED[(i as { expected: string }).expected] ?? (i as { expected: string }).expected))),
      ];
      return [{ path, message: `expected ${listOr(expected, '')}, got ${describeValue(value)}`, hint: value === null ? typeHint('', null) : undefined }];
    }
    case 'invalid_key': {
      const inner = issue.issues[0];
      const key = String(last);
      const message = inner && !isDefaultMessage(inner.message) ? inner.message : 'is not a valid name';
      const label = toDnsLabel(key);
      const hint = message.includes('DNS-1123') && DNS_LABEL_RE.test(label) && label !== key ? `try \`${label}\`` : undefined;
      return [{ path, mode: 'key', message: `invalid name \`${key}\`: ${message}`, hint }];
    }
    case 'invalid_value': {
      if (!isDefaultMessage(issue.message)) return [{ path, message: `${issue.message} (got ${describeValue(value)})` }];
      const values = issue.values.map(String);
      const close = typeof value === 'string' ? didYouMean(value, values) : undefined;
      return [
        {
          path,
          message: `must be ${values.length === 1 ? '' : 'one of '}${listOr(values)}, got ${describeValue(value)}`,
          hint: close !== undefined ? `did you mean \`${close}\`?` : undefined,
        },
      ];
    }
    case 'too_small':
    case 'too_big': {
      if (!isDefaultMessage(issue.message)) return [{ path, message: `${issue.message} (got ${describeValue(value)})` }];
      return [{ path, message: rangeMessage(issue, value) }];
    }
    case 'invalid_format': {
      const message = isDefaultMessage(issue.message) ? `has the wrong format` : issue.message;
      let hint: string | undefined;
      if (typeof value === 'string' && message.includes('DNS-1123')) {
        const label = toDnsLabel(value);
        if (DNS_LABEL_RE.test(label) && label !== value) hint = `try \`${label}\``;
      }
      return [{ path, message: `${message} (got ${describeValue(value)})`, hint }];
    }
    default:
      return [{ path, message: issue.message }];
  }
}

function requiredHint(field: string, path: readonly unknown[] = []): string | undefined {
  if (field === 'name' && path.includes('volumes')) return 'name the volume, e.g. `name: data` (the app finds it in BERTH_VOLUME_DATA)';
  if (field === 'run') return 'give the command to start the service, e.g. `run: node server.js`';
  if (field === 'app') return 'name the application, e.g. `app: shop`';
  if (field === 'services') return 'declare at least one service, e.g. `services: { web: { run: node web.js, port: 8080 } }`';
  if (field === 'name') return 'every sidecar needs a unique name';
  if (field === 'command') return 'give the command to run, e.g. `command: ["test", "-f", "/tmp/ok"]`';
  return undefined;
}
