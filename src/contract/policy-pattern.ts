// Kyverno's validation patterns, over a service spec: a partial spec the service must match.
// Scalars: wildcards `*` and `?`, operators `>`, `<`, `>=`, `<=`, `!`, alternatives `|`, conjunctions
// `&`, ranges `a-b` and `a!-b`; numbers, quantities (256Mi, 500m) and durations (30s, 1m30s)
// compare by magnitude. Keys: anchors `(k)` conditional, `=(k)` equality, `X(k)` negation, `^(k)`
// existence (lists) and `<(k)` global. Pure; the first mismatch is reported with its path.
import type { PathSeg } from './positions.js';
import { isPlainObject } from './shape.js';

export interface PatternMismatch {
  /** Path of the offending value, relative to what was matched. */
  path: PathSeg[];
  /** What the pattern asked for, in words. */
  expected: string;
  /** The value found (undefined when the field is missing). */
  got: unknown;
}

/** `ok`, `skip` (a global anchor did not hold: the rule does not apply), or the first mismatch. */
export type PatternOutcome = 'ok' | 'skip' | PatternMismatch;

type Anchor = 'condition' | 'equality' | 'negation' | 'existence' | 'global' | undefined;

const ANCHOR_RE = /^(\(|=\(|X\(|\^\(|<\()(.+)\)$/;
const ANCHORS: Record<string, Anchor> = { '(': 'condition', '=(': 'equality', 'X(': 'negation', '^(': 'existence', '<(': 'global' };

/** A pattern key with its anchor, e.g. `=(probes)` → equality anchor on `probes`. */
export function parseKey(key: string): { key: string; anchor: Anchor } {
  const m = ANCHOR_RE.exec(key);
  return m ? { key: m[2], anchor: ANCHORS[m[1]] } : { key, anchor: undefined };
}

// --- scalars ------------------------------------------------------------------------------------

const wildcardCache = new Map<string, RegExp>();

/** `*` any run of characters, `?` exactly one; the rest literally (as Kyverno's wildcard.Match). */
export function wildcardMatch(pattern: string, text: string): boolean {
  if (!pattern.includes('*') && !pattern.includes('?')) return pattern === text;
  let re = wildcardCache.get(pattern);
  if (re === undefined) {
    const body = pattern.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '[\\s\\S]*').replace(/\?/g, '[\\s\\S]');
    re = new RegExp(`^${body}$`);
    if (wildcardCache.size > 10_000) wildcardCache.clear();
    wildcardCache.set(pattern, re);
  }
  return re.test(text);
}

const QUANTITY_SUFFIX: Record<string, number> = {
  '': 1,
  m: 1e-3,
  k: 1e3,
  M: 1e6,
  G: 1e9,
  T: 1e12,
  P: 1e15,
  E: 1e18,
  Ki: 2 ** 10,
  Mi: 2 ** 20,
  Gi: 2 ** 30,
  Ti: 2 ** 40,
  Pi: 2 ** 50,
  Ei: 2 ** 60,
};
const QUANTITY_RE = /^([+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)(m|k|M|G|T|P|E|Ki|Mi|Gi|Ti|Pi|Ei)?$/;
const DURATION_RE = /^(?:\d+(?:\.\d+)?(?:ns|us|µs|ms|s|m|h))+$/;
const DURATION_PART = /(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)/g;
const DURATION_UNIT: Record<string, number> = { ns: 1e-9, us: 1e-6, µs: 1e-6, ms: 1e-3, s: 1, m: 60, h: 3600 };

function duration(text: string): number | undefined {
  if (!DURATION_RE.test(text)) return undefined;
  let total = 0;
  for (const m of text.matchAll(DURATION_PART)) total += Number(m[1]) * DURATION_UNIT[m[2]];
  return total;
}

function quantity(text: string): number | undefined {
  const m = QUANTITY_RE.exec(text.trim());
  return m ? Number(m[1]) * QUANTITY_SUFFIX[m[2] ?? ''] : undefined;
}

/** Both sides as magnitudes when they compare as numbers, quantities or durations (durations first, as Kyverno). */
function magnitudes(value: unknown, pattern: string): [number, number] | undefined {
  if (typeof value === 'boolean' || value === null || value === undefined || typeof value === 'object') return undefined;
  const v = String(value).trim();
  const dv = duration(v);
  const dp = duration(pattern);
  if (dv !== undefined && dp !== undefined) return [dv, dp];
  // A number against a duration: a bare number of seconds (as the spec's *Seconds fields).
  if (dp !== undefined && typeof value === 'number') return [value, dp];
  const qv = typeof value === 'number' ? value : quantity(v);
  const qp = quantity(pattern);
  return qv !== undefined && qp !== undefined ? [qv, qp] : undefined;
}

type Op = '' | '!' | '>' | '<' | '>=' | '<=';

function compare(value: unknown, operand: string, op: Op): boolean {
  const m = magnitudes(value, operand);
  if (op === '>' || op === '<' || op === '>=' || op === '<=') {
    if (m === undefined) return false; // ordering applies to numbers, quantities and durations only
    const [v, p] = m;
    return op === '>' ? v > p : op === '<' ? v < p : op === '>=' ? v >= p : v <= p;
  }
  let equal: boolean;
  if (m !== undefined && !/[*?]/.test(operand)) equal = m[0] === m[1];
  else if (typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean') equal = wildcardMatch(operand, String(value));
  else equal = false;
  return op === '!' ? !equal : equal;
}

const RANGE_RE = /^(.+?)(!-|-)(.+)$/;

function single(value: unknown, cond: string): boolean {
  // A range only when both ends are magnitudes: `web-api` stays a plain string.
  const r = RANGE_RE.exec(cond);
  if (r && quantity(r[1]) !== undefined && quantity(r[3]) !== undefined) {
    return r[2] === '-' ? compare(value, r[1], '>=') && compare(value, r[3], '<=') : compare(value, r[1], '<') || compare(value, r[3], '>');
  }
  for (const op of ['>=', '<=', '>', '<', '!'] as const) {
    if (cond.startsWith(op) && cond.length > op.length) return compare(value, cond.slice(op.length).trim(), op);
  }
  return compare(value, cond, '');
}

/** A scalar value against a string pattern: `a | b` any, `a & b` all, then one condition each. */
export function matchStringPattern(value: unknown, pattern: string): boolean {
  if (value === pattern) return true;
  return pattern.split('|').some((alt) => alt.split('&').every((cond) => single(value, cond.trim())));
}

/** A scalar value against a scalar pattern (string, number, boolean, or null for "absent or empty"). */
export function matchScalar(value: unknown, pattern: string | number | boolean | null): boolean {
  if (pattern === null || pattern === '') return value === undefined || value === null || value === '' || value === 0 || value === false;
  if (typeof pattern === 'boolean') return value === pattern;
  if (typeof pattern === 'number') {
    if (typeof value === 'number') return value === pattern;
    return typeof value === 'string' && value.trim() !== '' && Number(value) === pattern;
  }
  return matchStringPattern(value, pattern);
}

// --- structure ----------------------------------------------------------------------------------

function describePattern(p: unknown): string {
  if (p === null || p === '') return 'absent or empty';
  if (typeof p === 'string') return p === '?*' ? 'present and not empty' : p === '*' ? 'present' : `\`${p}\``;
  if (Array.isArray(p)) return 'a list matching the pattern';
  if (isPlainObject(p)) return 'a mapping matching the pattern';
  return `\`${String(p)}\``;
}

const absent = (v: unknown) => v === undefined || v === null;
/** `path` is the walk's own stack: copied only when a mismatch is reported. */
const fail = (path: PathSeg[], pattern: unknown, got: unknown): PatternMismatch => ({ path: [...path], expected: describePattern(pattern), got });

interface Entry {
  key: string;
  anchor: Anchor;
  pattern: unknown;
}

/** A pattern mapping's keys, parsed once per pattern object (rules are evaluated on every service). */
const entriesCache = new WeakMap<object, Entry[]>();
function entriesOf(pattern: Record<string, unknown>): Entry[] {
  let e = entriesCache.get(pattern);
  if (e === undefined) {
    e = Object.entries(pattern).map(([k, p]) => ({ ...parseKey(k), pattern: p }));
    entriesCache.set(pattern, e);
  }
  return e;
}

/** Matches `value` at `path[..]` + `seg` (pushed for the call, popped after). */
function matchChild(value: unknown, pattern: unknown, path: PathSeg[], seg: PathSeg): PatternOutcome {
  path.push(seg);
  const r = matchAt(value, pattern, path);
  path.pop();
  return r;
}

function matchAt(value: unknown, pattern: unknown, path: PathSeg[]): PatternOutcome {
  if (pattern === null || pattern === '') return matchScalar(value, null) ? 'ok' : fail(path, pattern, value);
  if (absent(value)) return fail(path, pattern, undefined);
  if (typeof pattern === 'object' && !Array.isArray(pattern)) return matchMap(value, pattern as Record<string, unknown>, path);
  if (Array.isArray(pattern)) {
    if (!Array.isArray(value)) return fail(path, pattern, value);
    for (let i = 0; i < value.length; i++) {
      for (const p of pattern) {
        const r = matchChild(value[i], p, path, i);
        if (r !== 'ok') return r;
      }
    }
    return 'ok';
  }
  if (Array.isArray(value)) {
    // A scalar pattern against a list: every element must match (as Kyverno).
    for (let i = 0; i < value.length; i++) {
      const r = matchChild(value[i], pattern, path, i);
      if (r !== 'ok') return r;
    }
    return 'ok';
  }
  if (isPlainObject(value)) {
    // Berth's reading of `*` / `?*` on a mapping (e.g. a probe): present / present and not empty.
    if (pattern === '*' || (pattern === '?*' && Object.keys(value).length > 0)) return 'ok';
    return fail(path, pattern, value);
  }
  return matchScalar(value, pattern as string | number | boolean) ? 'ok' : fail(path, pattern, value);
}

function matchMap(value: unknown, pattern: Record<string, unknown>, path: PathSeg[]): PatternOutcome {
  if (!isPlainObject(value)) return fail(path, pattern, value);
  const entries = entriesOf(pattern);
  let anchors = false;
  for (const e of entries) if (e.anchor === 'global' || e.anchor === 'condition') anchors = true;
  if (anchors) {
    // Global anchors: when one does not hold, the whole rule is skipped.
    for (const e of entries) {
      if (e.anchor !== 'global') continue;
      if (absent(value[e.key]) || matchChild(value[e.key], e.pattern, path, e.key) !== 'ok') return 'skip';
    }
    // Conditional anchors: when one does not hold, this mapping is not checked any further.
    for (const e of entries) {
      if (e.anchor !== 'condition') continue;
      const r = absent(value[e.key]) ? 'no' : matchChild(value[e.key], e.pattern, path, e.key);
      if (r === 'skip') return r;
      if (r !== 'ok') return 'ok';
    }
  }
  for (const e of entries) {
    const v = value[e.key];
    switch (e.anchor) {
      case 'global':
      case 'condition':
        continue;
      case 'negation':
        if (!absent(v)) return { path: [...path, e.key], expected: 'absent', got: v };
        continue;
      case 'equality':
        if (absent(v)) continue;
        break;
      case 'existence': {
        if (!Array.isArray(v)) return fail([...path, e.key], e.pattern, v);
        const want = Array.isArray(e.pattern) ? e.pattern : [e.pattern];
        const at = [...path, e.key];
        if (!v.some((item, i) => want.every((p) => matchChild(item, p, at, i) === 'ok'))) return { path: at, expected: 'at least one element matching the pattern', got: v };
        continue;
      }
      default:
        break;
    }
    const r = matchChild(v, e.pattern, path, e.key);
    if (r !== 'ok') return r;
  }
  return 'ok';
}

/** Matches a value (a service spec) against a pattern. */
export function matchPattern(value: unknown, pattern: unknown): PatternOutcome {
  return matchAt(value, pattern, []);
}
