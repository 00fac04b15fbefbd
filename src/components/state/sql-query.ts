// Dapr's state query (EQ/IN/AND/OR, sort, page) as SQL over JSON values, for SQLite (json_type /
// json_extract) and PostgreSQL (jsonb #>). Values are bound parameters, never spliced in.
import { fieldPath } from './common.js';
import { StateRequestError, type QueryFilter, type QueryValue } from './state-store.js';

export interface SqlPart {
  sql: string;
  params: unknown[];
}

function sqlitePath(field: string): string {
  const parts = fieldPath(field);
  if (parts.some((p) => p.includes('"'))) throw new StateRequestError(`query field ${JSON.stringify(field)} must not contain "`);
  return `$${parts.map((p) => `."${p}"`).join('')}`;
}

function sqliteEq(field: string, v: QueryValue): SqlPart {
  const p = sqlitePath(field);
  if (v === null) return { sql: `json_type(value, ?) = 'null'`, params: [p] };
  if (typeof v === 'boolean') return { sql: `json_type(value, ?) = ?`, params: [p, v ? 'true' : 'false'] };
  if (typeof v === 'number') return { sql: `(json_type(value, ?) IN ('integer', 'real') AND json_extract(value, ?) = ?)`, params: [p, p, v] };
  return { sql: `(json_type(value, ?) = 'text' AND json_extract(value, ?) = ?)`, params: [p, p, v] };
}

function join(parts: SqlPart[], op: 'AND' | 'OR'): SqlPart {
  return { sql: `(${parts.map((x) => x.sql).join(` ${op} `)})`, params: parts.flatMap((x) => x.params) };
}

export function sqliteFilter(f: QueryFilter): SqlPart {
  if ('EQ' in f) {
    const [[field, v]] = Object.entries(f.EQ);
    return sqliteEq(field, v);
  }
  if ('IN' in f) {
    const [[field, vs]] = Object.entries(f.IN);
    return join(vs.map((v) => sqliteEq(field, v)), 'OR');
  }
  if ('AND' in f) return join(f.AND.map(sqliteFilter), 'AND');
  return join(f.OR.map(sqliteFilter), 'OR');
}

export function sqliteSortKey(field: string): SqlPart {
  return { sql: 'json_extract(value, ?)', params: [sqlitePath(field)] };
}

/** PostgreSQL: `$n` placeholders numbered from `next()`. */
export function postgresFilter(f: QueryFilter, next: (param: unknown) => string): string {
  if ('EQ' in f) {
    const [[field, v]] = Object.entries(f.EQ);
    return `(value #> ${next(fieldPath(field))}::text[]) = ${next(JSON.stringify(v))}::jsonb`;
  }
  if ('IN' in f) {
    const [[field, vs]] = Object.entries(f.IN);
    return `(value #> ${next(fieldPath(field))}::text[]) = ANY(${next(vs.map((v) => JSON.stringify(v)))}::jsonb[])`;
  }
  if ('AND' in f) return `(${f.AND.map((x) => postgresFilter(x, next)).join(' AND ')})`;
  return `(${f.OR.map((x) => postgresFilter(x, next)).join(' OR ')})`;
}
