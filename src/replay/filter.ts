// `--filter <match>`: which recorded requests to replay. The match has the shape of a spec route
// match (path exact/prefix/regex, method, headers, query — Istio HTTPMatchRequest), written as
// YAML/JSON flow (`{path: {prefix: /api}, method: GET}`), or in a short form: `[METHOD[,METHOD]] PATH`
// where PATH is a prefix, `=PATH` exact and `~REGEX` a whole-path RE2 regex.
import { RE2JS } from 're2js';
import { parse as parseYaml } from 'yaml';
import type { RecordedExchange } from './har.js';

export type ExchangeFilter = (x: RecordedExchange) => boolean;

export class FilterError extends Error {}

type StringTest = (v: string | undefined) => boolean;

function re2(pattern: string, what: string): RE2JS {
  try {
    return RE2JS.compile(pattern);
  } catch (err) {
    throw new FilterError(`${what}: invalid RE2 regex ${JSON.stringify(pattern)}: ${(err as Error).message}`);
  }
}

function stringMatch(m: unknown, what: string): StringTest {
  if (typeof m === 'string') return (v) => v === m;
  if (m === null || typeof m !== 'object') throw new FilterError(`${what}: give {exact|prefix|regex|present}`);
  const o = m as Record<string, unknown>;
  const keys = Object.keys(o);
  if (keys.length !== 1) throw new FilterError(`${what}: give exactly one of exact, prefix, regex, present`);
  const v = o[keys[0]];
  switch (keys[0]) {
    case 'exact':
      return (x) => x === String(v);
    case 'prefix':
      return (x) => x !== undefined && x.startsWith(String(v));
    case 'regex': {
      const r = re2(String(v), what);
      return (x) => x !== undefined && r.matches(x);
    }
    case 'present':
      return (x) => (x !== undefined) === (v === true);
    default:
      throw new FilterError(`${what}: unknown matcher ${JSON.stringify(keys[0])} (exact, prefix, regex, present)`);
  }
}

function methodsTest(m: unknown): (method: string) => boolean {
  if (m === undefined) return () => true;
  const list = (Array.isArray(m) ? m : String(m).split(',')).map((x) => String(x).trim().toUpperCase()).filter(Boolean);
  return (method) => list.includes(method);
}

function fromObject(o: Record<string, unknown>): ExchangeFilter {
  for (const k of Object.keys(o)) if (!['path', 'method', 'headers', 'query'].includes(k)) throw new FilterError(`unknown match field ${JSON.stringify(k)} (path, method, headers, query)`);
  const path = o.path === undefined ? () => true : stringMatch(o.path, 'path');
  const method = methodsTest(o.method);
  const headers = Object.entries((o.headers ?? {}) as Record<string, unknown>).map(([name, m]) => [name.toLowerCase(), stringMatch(m, `headers.${name}`)] as const);
  const query = Object.entries((o.query ?? {}) as Record<string, unknown>).map(([name, m]) => [name, stringMatch(m, `query.${name}`)] as const);
  return (x) =>
    method(x.method) &&
    path(x.url.pathname) &&
    headers.every(([n, t]) => t(x.headers.find(([k]) => k.toLowerCase() === n)?.[1])) &&
    query.every(([n, t]) => t(x.url.searchParams.get(n) ?? undefined));
}

function fromShortForm(text: string): ExchangeFilter {
  const parts = text.trim().split(/\s+/);
  let methods: string | undefined;
  let path = parts[0];
  if (parts.length === 2) [methods, path] = parts;
  else if (parts.length !== 1) throw new FilterError(`cannot read filter ${JSON.stringify(text)}: use "[METHOD] PATH" or a route match like {path: {prefix: /api}}`);
  else if (!path.startsWith('/') && !path.startsWith('~') && !path.startsWith('=')) [methods, path] = [path, '/'];
  const pathMatch = path.startsWith('~') ? { regex: path.slice(1) } : path.startsWith('=') ? { exact: path.slice(1) } : { prefix: path };
  if (!('regex' in pathMatch) && !(pathMatch.exact ?? pathMatch.prefix ?? '').startsWith('/')) throw new FilterError(`filter path must start with "/": ${JSON.stringify(text)}`);
  return fromObject({ path: pathMatch, ...(methods ? { method: methods } : {}) });
}

/** One filter from the flag's text; throws FilterError with a message for the user. */
export function parseFilter(text: string): ExchangeFilter {
  const t = text.trim();
  if (!t) throw new FilterError('empty filter');
  if (!t.startsWith('{')) return fromShortForm(t);
  let o: unknown;
  try {
    o = parseYaml(t);
  } catch (err) {
    throw new FilterError(`cannot read filter ${JSON.stringify(text)}: ${(err as Error).message}`);
  }
  if (o === null || typeof o !== 'object' || Array.isArray(o)) throw new FilterError(`a filter is a route match object, got ${JSON.stringify(text)}`);
  return fromObject(o as Record<string, unknown>);
}

/** Several filters: a request is replayed when any of them matches (none given: all). */
export function anyOf(filters: readonly ExchangeFilter[]): ExchangeFilter {
  return filters.length === 0 ? () => true : (x) => filters.some((f) => f(x));
}
