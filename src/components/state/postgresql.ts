// state.postgresql (v1): a table of jsonb values, Dapr's metadata names: connectionString (a
// key=value DSN or a postgres:// URL), tableName, timeoutInSeconds, cleanupIntervalInSeconds,
// maxConns. ETags are UUIDs (anything else is malformed: 400). Also serves the query API.
import { randomUUID } from 'node:crypto';
import pg from 'pg';
import { checkQuery, decodeValue, encodeValue, expiryOf, nextToken, pageOf, parseIntMeta, requireMeta, sqlIdentifier } from './common.js';
import { postgresFilter } from './sql-query.js';
import {
  ComponentConfigError,
  ETagInvalidError,
  ETagMismatchError,
  type BulkGetItem,
  type DeleteRequest,
  type GetResponse,
  type QueryRequest,
  type QueryResponse,
  type SetRequest,
  type StateFeature,
  type StateStore,
  type TransactionOperation,
} from './state-store.js';

const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** libpq's key=value connection strings (Dapr's examples use them), as node-postgres options. */
export function postgresConfig(connectionString: string): pg.PoolConfig {
  const s = connectionString.trim();
  if (/^postgres(ql)?:\/\//.test(s)) return { connectionString: s };
  const out: pg.PoolConfig = {};
  const re = /\s*([A-Za-z_]+)\s*=\s*('(?:[^'\\]|\\.)*'|\S*)/gy;
  let consumed = 0;
  for (const m of s.matchAll(re)) {
    consumed = (m.index ?? 0) + m[0].length;
    const v = m[2].startsWith("'") ? m[2].slice(1, -1).replace(/\\(.)/g, '$1') : m[2];
    switch (m[1].toLowerCase()) {
      case 'host': out.host = v; break;
      case 'port': out.port = Number(v); break;
      case 'user': out.user = v; break;
      case 'password': out.password = v; break;
      case 'dbname': case 'database': out.database = v; break;
      case 'connect_timeout': out.connectionTimeoutMillis = Number(v) * 1000; break;
      case 'sslmode': if (v !== 'disable') out.ssl = v === 'require' ? { rejectUnauthorized: false } : true; break;
      case 'application_name': out.application_name = v; break;
      default: break; // other libpq keywords (pool_max_conns, …) do not change how we connect
    }
  }
  if (s.slice(consumed).trim() !== '') throw new ComponentConfigError('metadata connectionString: expected key=value pairs (host=… user=… dbname=…) or a postgres:// URL');
  return out;
}

interface Row {
  key: string;
  v: string;
  isbinary: boolean;
  etag: string;
  expiredate: Date | null;
}

/** A pool (one statement) or a client inside a transaction. */
type Queryable = Pick<pg.Pool, 'query'>;

const SELECT = `key, CASE WHEN isbinary THEN value #>> '{}' ELSE value::text END AS v, isbinary, etag, expiredate`;
const LIVE = '(expiredate IS NULL OR expiredate > now())';

export class PostgresStateStore implements StateStore {
  private readonly pool: pg.Pool;
  private readonly table: string;
  private readonly cleanup?: NodeJS.Timeout;
  private ready?: Promise<void>;

  constructor(metadata: Record<string, string>) {
    const config = postgresConfig(requireMeta(metadata, 'connectionString', 'state.postgresql'));
    const timeoutS = parseIntMeta('timeoutInSeconds', metadata.timeoutInSeconds, 20);
    const maxConns = parseIntMeta('maxConns', metadata.maxConns, 10);
    this.table = sqlIdentifier('tableName', metadata.tableName ?? 'state');
    this.pool = new pg.Pool({ ...config, max: maxConns, query_timeout: timeoutS * 1000 });
    this.pool.on('error', () => {
      // An idle client lost its connection: the pool replaces it on next use.
    });
    const cleanupS = parseIntMeta('cleanupIntervalInSeconds', metadata.cleanupIntervalInSeconds, 3600);
    if (cleanupS > 0) {
      // Expired rows are also ignored by every read (expiredate checked); a failed sweep is only retried at the next interval.
      this.cleanup = setInterval(() => void this.pool.query(`DELETE FROM ${this.table} WHERE expiredate IS NOT NULL AND expiredate <= now()`).catch(() => undefined), cleanupS * 1000);
      this.cleanup.unref();
    }
  }

  /** Creates the table once (under an advisory lock: several sidecars may start together). */
  init(): Promise<void> {
    this.ready ??= (async () => {
      const c = await this.pool.connect();
      try {
        await c.query('BEGIN');
        await c.query('SELECT pg_advisory_xact_lock(hashtext($1))', [`berth-state:${this.table}`]);
        await c.query(`CREATE TABLE IF NOT EXISTS ${this.table} (
          key text NOT NULL PRIMARY KEY,
          value jsonb NOT NULL,
          isbinary boolean NOT NULL,
          etag text NOT NULL,
          insertdate timestamptz NOT NULL DEFAULT now(),
          updatedate timestamptz NULL,
          expiredate timestamptz NULL)`);
        await c.query('COMMIT');
      } catch (e) {
        // The error being thrown is what matters; a connection too broken to roll back is discarded by the pool.
        await c.query('ROLLBACK').catch(() => undefined);
        this.ready = undefined;
        throw e;
      } finally {
        c.release();
      }
    })();
    return this.ready;
  }

  features(): StateFeature[] {
    return ['ETAG', 'TRANSACTIONAL', 'TTL', 'QUERY_API'];
  }

  private static toResponse(r: Row): GetResponse {
    return { value: decodeValue(r.v, r.isbinary), etag: r.etag, ...(r.expiredate ? { expireTime: r.expiredate } : {}) };
  }

  async get(key: string): Promise<GetResponse | undefined> {
    await this.init();
    // Named: prepared once per connection and planned once, not parsed and planned on every get.
    const r = await this.pool.query<Row>({ name: `berth_get_${this.table}`, text: `SELECT ${SELECT} FROM ${this.table} WHERE key = $1 AND ${LIVE}`, values: [key] });
    return r.rows[0] ? PostgresStateStore.toResponse(r.rows[0]) : undefined;
  }

  async bulkGet(keys: string[]): Promise<BulkGetItem[]> {
    await this.init();
    const r = await this.pool.query<Row>(`SELECT ${SELECT} FROM ${this.table} WHERE key = ANY($1::text[]) AND ${LIVE}`, [keys]);
    const byKey = new Map(r.rows.map((row) => [row.key, row]));
    return keys.map((key) => {
      const row = byKey.get(key);
      return row ? { key, item: PostgresStateStore.toResponse(row) } : { key };
    });
  }

  private async applySet(c: Queryable, req: SetRequest): Promise<void> {
    const exp = expiryOf(req.ttlInSeconds);
    const enc = encodeValue(req.value);
    // jsonb cannot hold \u0000: such values are kept as binary.
    const binary = enc.isBinary || enc.text.includes('\\u0000');
    const json = binary ? JSON.stringify(req.value.toString('base64')) : enc.text;
    const etag = randomUUID();
    const expiredate = exp === undefined ? null : new Date(exp);
    const t = this.table;
    if (req.etag !== undefined && req.etag !== '') {
      if (!UUID_RE.test(req.etag)) throw new ETagInvalidError(req.etag);
      const r = await c.query(`UPDATE ${t} SET value = $1::jsonb, isbinary = $2, etag = $3, updatedate = now(), expiredate = $4 WHERE key = $5 AND etag = $6 AND ${LIVE}`, [json, binary, etag, expiredate, req.key, req.etag]);
      if (r.rowCount !== 1) throw new ETagMismatchError(req.key);
    } else if (req.options?.concurrency === 'first-write') {
      const r = await c.query(
        `INSERT INTO ${t} (key, value, isbinary, etag, expiredate) VALUES ($1, $2::jsonb, $3, $4, $5)
         ON CONFLICT (key) DO UPDATE SET value = excluded.value, isbinary = excluded.isbinary, etag = excluded.etag, updatedate = now(), expiredate = excluded.expiredate
         WHERE ${t}.expiredate IS NOT NULL AND ${t}.expiredate <= now()`,
        [req.key, json, binary, etag, expiredate],
      );
      if (r.rowCount !== 1) throw new ETagMismatchError(req.key);
    } else {
      await c.query({
        name: `berth_upsert_${t}`,
        text: `INSERT INTO ${t} (key, value, isbinary, etag, expiredate) VALUES ($1, $2::jsonb, $3, $4, $5)
         ON CONFLICT (key) DO UPDATE SET value = excluded.value, isbinary = excluded.isbinary, etag = excluded.etag, updatedate = now(), expiredate = excluded.expiredate`,
        values: [req.key, json, binary, etag, expiredate],
      });
    }
  }

  private async applyDelete(c: Queryable, req: DeleteRequest): Promise<void> {
    if (req.etag !== undefined && req.etag !== '') {
      if (!UUID_RE.test(req.etag)) throw new ETagInvalidError(req.etag);
      const r = await c.query(`DELETE FROM ${this.table} WHERE key = $1 AND etag = $2 AND ${LIVE}`, [req.key, req.etag]);
      if (r.rowCount !== 1) throw new ETagMismatchError(req.key);
    } else {
      await c.query(`DELETE FROM ${this.table} WHERE key = $1`, [req.key]);
    }
  }

  async set(req: SetRequest): Promise<void> {
    await this.init();
    await this.applySet(this.pool, req);
  }

  async delete(req: DeleteRequest): Promise<void> {
    await this.init();
    await this.applyDelete(this.pool, req);
  }

  async transaction(ops: TransactionOperation[]): Promise<void> {
    await this.init();
    const c = await this.pool.connect();
    try {
      await c.query('BEGIN');
      for (const op of ops) {
        if (op.operation === 'upsert') await this.applySet(c, op.request);
        else await this.applyDelete(c, op.request);
      }
      await c.query('COMMIT');
    } catch (e) {
      // As above: the original error is rethrown; a failed rollback leaves an aborted transaction the server discards.
      await c.query('ROLLBACK').catch(() => undefined);
      throw e;
    } finally {
      c.release();
    }
  }

  async query(raw: QueryRequest): Promise<QueryResponse> {
    const req = checkQuery(raw);
    await this.init();
    const params: unknown[] = [];
    const next = (p: unknown) => {
      params.push(p);
      return `$${params.length}`;
    };
    const where = ['NOT isbinary', LIVE];
    if (req.keyPrefix) where.push(`left(key, ${next(req.keyPrefix.length)}::int) = ${next(req.keyPrefix)}`);
    if (req.filter) where.push(postgresFilter(req.filter, next));
    const order = (req.sort ?? []).map((s) => `(value #> ${next(s.key.split('.'))}::text[]) ${s.order === 'DESC' ? 'DESC' : 'ASC'}`);
    order.push('key ASC');
    const { offset, limit } = pageOf(req);
    const sql = `SELECT ${SELECT} FROM ${this.table} WHERE ${where.join(' AND ')} ORDER BY ${order.join(', ')} ${limit !== undefined ? `LIMIT ${next(limit)}` : ''} OFFSET ${next(offset)}`;
    const r = await this.pool.query<Row>(sql, params);
    const token = nextToken(offset, limit, r.rows.length);
    return { results: r.rows.map((row) => ({ key: row.key, data: Buffer.from(row.v, 'utf8'), etag: row.etag })), ...(token !== undefined ? { token } : {}) };
  }

  async close(): Promise<void> {
    if (this.cleanup) clearInterval(this.cleanup);
    await this.pool.end();
  }
}
