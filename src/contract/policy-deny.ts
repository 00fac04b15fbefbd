// Kyverno-style deny conditions over a service: `key` (a dotted path into the service spec, or
// `name` / `environment`), an operator, a value. `any`: one true condition denies; `all`: every one.
import { isDeepStrictEqual } from 'node:util';
import type { DenyConditionSpec } from './schema-policy.js';
import type { PathSeg } from './positions.js';
import { isPlainObject } from './shape.js';
import { matchStringPattern, wildcardMatch } from './policy-pattern.js';

/** What a condition's key may read: the service spec, its name and the environment. */
export interface DenySubject {
  name: string;
  environment: string | undefined;
  service: unknown;
}

function bare(key: string): string {
  let k = key.trim();
  const braces = /^\{\{\s*(.*?)\s*\}\}$/.exec(k);
  if (braces) k = braces[1];
  return k.startsWith('service.') ? k.slice('service.'.length) : k;
}

/** The key's path inside the service (`labels.app.kubernetes.io/name` keeps the label key whole); undefined for `name` / `environment`. */
export function keyPath(key: string): PathSeg[] | undefined {
  const k = bare(key);
  if (k === 'name' || k === 'environment') return undefined;
  if (k.startsWith('labels.')) return ['labels', k.slice('labels.'.length)];
  return k.split('.').map((s) => (/^\d+$/.test(s) ? Number(s) : s));
}

export function readKey(subject: DenySubject, key: string): unknown {
  const path = keyPath(key);
  if (path === undefined) return bare(key) === 'name' ? subject.name : subject.environment;
  let v: unknown = subject.service;
  for (const seg of path) {
    if (isPlainObject(v) || Array.isArray(v)) v = (v as Record<string, unknown>)[String(seg)];
    else return undefined;
  }
  return v;
}

/** One element equal to a pattern value (strings may hold wildcards; numbers compare with numeric strings). */
function same(a: unknown, b: unknown): boolean {
  if (typeof b === 'string' && (typeof a === 'string' || typeof a === 'number' || typeof a === 'boolean')) return wildcardMatch(b, String(a));
  if (typeof b === 'number' && typeof a === 'string') return a.trim() !== '' && Number(a) === b;
  return isDeepStrictEqual(a, b);
}

const list = (v: unknown): unknown[] => (Array.isArray(v) ? v : v === undefined ? [] : [v]);
const within = (x: unknown, set: unknown[]) => set.some((s) => same(x, s));

/** Whether one condition holds for the subject. */
export function conditionHolds(c: DenyConditionSpec, subject: DenySubject): boolean {
  const key = readKey(subject, c.key);
  const value = c.value;
  switch (c.operator) {
    case 'Equals':
      return key !== undefined && same(key, value);
    case 'NotEquals':
      return !(key !== undefined && same(key, value));
    case 'In':
    case 'AllIn':
      return key !== undefined && list(key).length > 0 && list(key).every((k) => within(k, list(value)));
    case 'AnyIn':
      return list(key).some((k) => within(k, list(value)));
    case 'NotIn':
    case 'AllNotIn':
      return list(key).every((k) => !within(k, list(value)));
    case 'AnyNotIn':
      return list(key).some((k) => !within(k, list(value)));
    case 'GreaterThan':
      return ordered(key, value, '>');
    case 'GreaterThanOrEquals':
      return ordered(key, value, '>=');
    case 'LessThan':
      return ordered(key, value, '<');
    case 'LessThanOrEquals':
      return ordered(key, value, '<=');
  }
}

function ordered(key: unknown, value: unknown, op: '>' | '>=' | '<' | '<='): boolean {
  if (key === undefined || key === null || value === undefined || value === null || typeof value === 'object') return false;
  return matchStringPattern(key, `${op}${String(value)}`);
}

/** The condition that made the deny hold (for its position), or undefined when the service is not denied. */
export function denyingCondition(conditions: { any?: DenyConditionSpec[]; all?: DenyConditionSpec[] }, subject: DenySubject): DenyConditionSpec | undefined | null {
  const any = conditions.any ?? [];
  const all = conditions.all ?? [];
  let hit: DenyConditionSpec | undefined;
  if (any.length > 0) {
    hit = any.find((c) => conditionHolds(c, subject));
    if (hit === undefined) return undefined;
  }
  if (all.length > 0) {
    if (!all.every((c) => conditionHolds(c, subject))) return undefined;
    // The condition to point at: the first that reads a field of the service (not its name or the environment).
    hit ??= all.find((c) => keyPath(c.key) !== undefined) ?? all[0];
  }
  // No condition at all: Kyverno's `deny: {}` denies every matched resource.
  return hit ?? null;
}
