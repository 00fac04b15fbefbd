// Checks and conversions every state store shares: TTL values, metadata parsing (Go durations,
// numbers, booleans, as Dapr reads them) and query validation.
import { ComponentConfigError, StateRequestError, type QueryFilter, type QueryRequest, type QueryValue } from './state-store.js';

/** Milliseconds since the epoch at which an item set now with this TTL expires; undefined: never. */
export function expiryOf(ttlInSeconds: number | undefined, now = Date.now()): number | undefined {
  if (ttlInSeconds === undefined || ttlInSeconds === -1) return undefined;
  if (!Number.isInteger(ttlInSeconds) || ttlInSeconds < -1) {
    throw new StateRequestError(`ttlInSeconds must be a whole number of seconds, or -1 for no expiry; got ${ttlInSeconds}`);
  }
  return now + ttlInSeconds * 1000;
}

/** Parses Dapr's `metadata.ttlInSeconds` (a string in request metadata). */
export function parseTtl(value: string | undefined): number | undefined {
  if (value === undefined || value === '') return undefined;
  if (!/^-?\d+$/.test(value.trim())) throw new StateRequestError(`ttlInSeconds must be a whole number of seconds, or -1 for no expiry; got ${JSON.stringify(value)}`);
  const n = Number(value);
  expiryOf(n);
  return n;
}

const DURATION_UNITS: Record<string, number> = { ns: 1e-6, us: 1e-3, µs: 1e-3, ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/** A Go duration ("1h30m", "2s", "500ms") or a whole number of seconds, in milliseconds. */
export function parseDuration(name: string, value: string | undefined, fallbackMs: number): number {
  if (value === undefined || value.trim() === '') return fallbackMs;
  const v = value.trim();
  if (/^-?\d+$/.test(v)) return Number(v) * 1000;
  const re = /(-?\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)/gy;
  let total = 0;
  let consumed = 0;
  for (const m of v.matchAll(re)) {
    total += Number(m[1]) * DURATION_UNITS[m[2]];
    consumed += m[0].length;
  }
  if (consumed !== v.length || consumed === 0) throw new ComponentConfigError(`metadata ${name}: ${JSON.stringify(value)} is not a duration (e.g. 20s, 1h, 500ms)`);
  return total;
}

export function parseIntMeta(name: string, value: string | undefined, fallback: number): number {
  if (value === undefined || value.trim() === '') return fallback;
  if (!/^-?\d+$/.test(value.trim())) throw new ComponentConfigError(`metadata ${name}: ${JSON.stringify(value)} is not a whole number`);
  return Number(value);
}

export function parseBoolMeta(name: string, value: string | undefined, fallback: boolean): boolean {
  if (value === undefined || value.trim() === '') return fallback;
  const v = value.trim().toLowerCase();
  if (['true', '1', 'yes', 'on'].includes(v)) return true;
  if (['false', '0', 'no', 'off'].includes(v)) return false;
  throw new ComponentConfigError(`metadata ${name}: ${JSON.stringify(value)} is not true or false`);
}

export function requireMeta(metadata: Record<string, string>, name: string, type: string): string {
  const v = metadata[name];
  if (v === undefined || v.trim() === '') throw new ComponentConfigError(`${type} needs metadata ${name}`);
  return v;
}

/** A SQL identifier given in metadata (tableName): letters, digits, _ and one optional schema dot. */
export function sqlIdentifier(name: string, value: string): string {
  if (!/^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)?$/.test(value)) {
    throw new ComponentConfigError(`metadata ${name}: ${JSON.stringify(value)} must be letters, digits and _ (optionally schema.table)`);
  }
  return value;
}

// --- query ------------------------------------------------------------------------------------

export const MAX_QUERY_LIMIT = 10_000;

/** A query field (`person.org`, or `value.person.org` as some clients write it) as its path inside the value. */
export function fieldPath(field: string): string[] {
  const parts = field.split('.');
  if (parts.some((p) => p === '')) throw new StateRequestError(`query field ${JSON.stringify(field)} is not a dotted path`);
  return parts;
}

function isScalar(v: unknown): v is QueryValue {
  return v === null || ['string', 'number', 'boolean'].includes(typeof v);
}

function checkFilter(f: unknown, depth: number): void {
  if (depth > 32) throw new StateRequestError('query filter nests too deep');
  if (typeof f !== 'object' || f === null || Array.isArray(f)) throw new StateRequestError('a query filter must be an object with one of EQ, IN, AND, OR');
  const keys = Object.keys(f);
  if (keys.length !== 1) throw new StateRequestError(`a query filter must have exactly one operation (EQ, IN, AND, OR); got ${keys.join(', ') || 'none'}`);
  const op = keys[0];
  const arg = (f as Record<string, unknown>)[op];
  if (op === 'EQ' || op === 'IN') {
    if (typeof arg !== 'object' || arg === null || Array.isArray(arg) || Object.keys(arg).length !== 1) throw new StateRequestError(`${op} takes one field: { "${op}": { "field": … } }`);
    const [[field, v]] = Object.entries(arg);
    fieldPath(field);
    if (op === 'EQ' && !isScalar(v)) throw new StateRequestError(`EQ compares with a string, number, boolean or null (field ${field})`);
    if (op === 'IN' && !(Array.isArray(v) && v.length > 0 && v.every(isScalar))) throw new StateRequestError(`IN takes a non-empty list of strings, numbers, booleans or nulls (field ${field})`);
  } else if (op === 'AND' || op === 'OR') {
    if (!Array.isArray(arg) || arg.length < 2) throw new StateRequestError(`${op} takes a list of at least two filters`);
    for (const sub of arg) checkFilter(sub, depth + 1);
  } else {
    throw new StateRequestError(`unknown query operation ${JSON.stringify(op)}: use EQ, IN, AND or OR`);
  }
}

/** Checks a query from the API (untrusted JSON) and returns it typed. */
export function checkQuery(q: unknown): QueryRequest {
  if (typeof q !== 'object' || q === null || Array.isArray(q)) throw new StateRequestError('the query must be a JSON object');
  const r = q as Record<string, unknown>;
  for (const k of Object.keys(r)) if (!['filter', 'sort', 'page', 'keyPrefix'].includes(k)) throw new StateRequestError(`unknown query field ${JSON.stringify(k)}: use filter, sort, page`);
  if (r.filter !== undefined && !(typeof r.filter === 'object' && r.filter !== null && Object.keys(r.filter).length === 0)) checkFilter(r.filter, 0);
  if (r.sort !== undefined) {
    if (!Array.isArray(r.sort)) throw new StateRequestError('sort must be a list of { key, order }');
    for (const s of r.sort as unknown[]) {
      const so = s as Record<string, unknown>;
      if (typeof so !== 'object' || so === null || typeof so.key !== 'string') throw new StateRequestError('each sort entry needs a key');
      fieldPath(so.key);
      if (so.order !== undefined && so.order !== 'ASC' && so.order !== 'DESC') throw new StateRequestError('sort order must be ASC or DESC');
    }
  }
  if (r.page !== undefined) {
    const p = r.page as Record<string, unknown>;
    if (typeof p !== 'object' || p === null) throw new StateRequestError('page must be { limit, token }');
    if (p.limit !== undefined && !(Number.isInteger(p.limit) && (p.limit as number) >= 0 && (p.limit as number) <= MAX_QUERY_LIMIT)) throw new StateRequestError(`page.limit must be a whole number from 0 to ${MAX_QUERY_LIMIT}`);
    if (p.token !== undefined && !(typeof p.token === 'string' && /^\d*$/.test(p.token))) throw new StateRequestError('page.token is not a token this store gave');
  }
  const out = { ...r } as QueryRequest;
  if (out.filter && Object.keys(out.filter).length === 0) delete out.filter;
  return out;
}

/** Offset and limit of a page (the token is the offset of the next page, as Dapr's SQL stores do). */
export function pageOf(req: QueryRequest): { offset: number; limit: number | undefined } {
  const offset = req.page?.token ? Number(req.page.token) : 0;
  const limit = req.page?.limit !== undefined && req.page.limit > 0 ? req.page.limit : undefined;
  return { offset, limit };
}

/** The next token, given how many rows a page asked for and got. */
export function nextToken(offset: number, limit: number | undefined, got: number): string | undefined {
  return limit !== undefined && got === limit ? String(offset + got) : undefined;
}

export type { QueryFilter };

const utf8 = new TextDecoder('utf-8', { fatal: true });

/** How SQL stores keep a value: JSON text when it is JSON (so queries can reach into it), else base64. */
export function encodeValue(value: Buffer): { text: string; isBinary: boolean; json?: unknown } {
  try {
    const text = utf8.decode(value);
    return { text, isBinary: false, json: JSON.parse(text) as unknown };
  } catch {
    return { text: value.toString('base64'), isBinary: true };
  }
}

export function decodeValue(text: string, isBinary: boolean): Buffer {
  return isBinary ? Buffer.from(text, 'base64') : Buffer.from(text, 'utf8');
}
