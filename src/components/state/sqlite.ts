// state.sqlite: a SQLite file (better-sqlite3), Dapr's metadata names: connectionString (a path,
// or a file: URI; relative paths resolve against the spec's directory), tableName, timeout,
// busyTimeout, cleanupInterval, disableWAL. Also serves the query API.
import { mkdirSync } from 'node:fs';
import { dirname, isAbsolute, resolve } from 'node:path';
import { randomUUID } from 'node:crypto';
import Database from 'better-sqlite3';
import { checkQuery, decodeValue, encodeValue, expiryOf, nextToken, pageOf, parseBoolMeta, parseDuration, requireMeta, sqlIdentifier } from './common.js';
import { sqliteFilter, sqliteSortKey } from './sql-query.js';
import {
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

interface Row {
  key: string;
  value: string;
  is_binary: number;
  etag: string;
  expiration_time: number | null;
}

/** The database file a connectionString names (`:memory:` kept as is). */
export function sqliteFile(connectionString: string, baseDir: string): string {
  let s = connectionString.trim();
  if (s.startsWith('file:')) s = s.slice('file:'.length).split('?')[0];
  if (s === ':memory:' || s === '') return ':memory:';
  return isAbsolute(s) ? s : resolve(baseDir, s);
}

export class SqliteStateStore implements StateStore {
  private readonly db: Database.Database;
  private readonly table: string;
  private readonly cleanup?: NodeJS.Timeout;
  private readonly statements = new Map<string, Database.Statement>();

  constructor(metadata: Record<string, string>, baseDir: string) {
    const file = sqliteFile(requireMeta(metadata, 'connectionString', 'state.sqlite'), baseDir);
    this.table = sqlIdentifier('tableName', metadata.tableName ?? 'state');
    const busyMs = parseDuration('busyTimeout', metadata.busyTimeout, 2000);
    parseDuration('timeout', metadata.timeout ?? metadata.timeoutInSeconds, 20_000);
    const cleanupMs = parseDuration('cleanupInterval', metadata.cleanupInterval, 0);
    const disableWal = parseBoolMeta('disableWAL', metadata.disableWAL, false);
    if (file !== ':memory:') mkdirSync(dirname(file), { recursive: true });
    this.db = new Database(file, { timeout: busyMs });
    if (!disableWal && file !== ':memory:') {
      // WAL with synchronous=NORMAL: a commit survives the process crashing (the WAL is written
      // before the call returns); only a power cut may lose the last commits. FULL fsyncs each one.
      this.db.pragma('journal_mode = WAL');
      this.db.pragma('synchronous = NORMAL');
    }
    this.db.exec(`CREATE TABLE IF NOT EXISTS "${this.table}" (
      key TEXT NOT NULL PRIMARY KEY,
      value TEXT NOT NULL,
      is_binary INTEGER NOT NULL,
      etag TEXT NOT NULL,
      expiration_time INTEGER DEFAULT NULL,
      update_time INTEGER NOT NULL
    )`);
    if (cleanupMs > 0) {
      this.cleanup = setInterval(() => this.deleteExpired(), cleanupMs);
      this.cleanup.unref();
    }
  }

  features(): StateFeature[] {
    return ['ETAG', 'TRANSACTIONAL', 'TTL', 'QUERY_API'];
  }

  /** Prepared once per SQL text: the fixed statements (queries vary, and are prepared each time). */
  private stmt(sql: string): Database.Statement {
    let st = this.statements.get(sql);
    if (!st) {
      st = this.db.prepare(sql);
      if (this.statements.size < 256) this.statements.set(sql, st);
    }
    return st;
  }

  private deleteExpired(): void {
    try {
      this.stmt(`DELETE FROM "${this.table}" WHERE expiration_time IS NOT NULL AND expiration_time <= ?`).run(Date.now());
    } catch {
      // Best effort: expired rows are invisible to reads anyway; the next run retries.
    }
  }

  private readRow(key: string, now: number): Row | undefined {
    return this.stmt(`SELECT key, value, is_binary, etag, expiration_time FROM "${this.table}" WHERE key = ? AND (expiration_time IS NULL OR expiration_time > ?)`).get(key, now) as Row | undefined;
  }

  private static toResponse(r: Row): GetResponse {
    return { value: decodeValue(r.value, r.is_binary === 1), etag: r.etag, ...(r.expiration_time !== null ? { expireTime: new Date(r.expiration_time) } : {}) };
  }

  async get(key: string): Promise<GetResponse | undefined> {
    const r = this.readRow(key, Date.now());
    return r ? SqliteStateStore.toResponse(r) : undefined;
  }

  async bulkGet(keys: string[]): Promise<BulkGetItem[]> {
    const now = Date.now();
    return keys.map((key) => {
      const r = this.readRow(key, now);
      return r ? { key, item: SqliteStateStore.toResponse(r) } : { key };
    });
  }

  private applySet(req: SetRequest, now: number): void {
    const expiresAt = expiryOf(req.ttlInSeconds, now) ?? null;
    const { text, isBinary } = encodeValue(req.value);
    const etag = randomUUID();
    const t = this.table;
    if (req.etag !== undefined && req.etag !== '') {
      const r = this.stmt(`UPDATE "${t}" SET value = ?, is_binary = ?, etag = ?, expiration_time = ?, update_time = ? WHERE key = ? AND etag = ? AND (expiration_time IS NULL OR expiration_time > ?)`)
        .run(text, isBinary ? 1 : 0, etag, expiresAt, now, req.key, req.etag, now);
      if (r.changes !== 1) throw new ETagMismatchError(req.key);
    } else if (req.options?.concurrency === 'first-write') {
      // Insert, or take over a row that has expired; a live row means someone wrote first.
      const r = this.stmt(`INSERT INTO "${t}" (key, value, is_binary, etag, expiration_time, update_time) VALUES (?, ?, ?, ?, ?, ?)
          ON CONFLICT(key) DO UPDATE SET value = excluded.value, is_binary = excluded.is_binary, etag = excluded.etag, expiration_time = excluded.expiration_time, update_time = excluded.update_time
          WHERE "${t}".expiration_time IS NOT NULL AND "${t}".expiration_time <= ?`)
        .run(req.key, text, isBinary ? 1 : 0, etag, expiresAt, now, now);
      if (r.changes !== 1) throw new ETagMismatchError(req.key);
    } else {
      this.stmt(`INSERT INTO "${t}" (key, value, is_binary, etag, expiration_time, update_time) VALUES (?, ?, ?, ?, ?, ?)
          ON CONFLICT(key) DO UPDATE SET value = excluded.value, is_binary = excluded.is_binary, etag = excluded.etag, expiration_time = excluded.expiration_time, update_time = excluded.update_time`)
        .run(req.key, text, isBinary ? 1 : 0, etag, expiresAt, now);
    }
  }

  private applyDelete(req: DeleteRequest, now: number): void {
    if (req.etag !== undefined && req.etag !== '') {
      const r = this.stmt(`DELETE FROM "${this.table}" WHERE key = ? AND etag = ? AND (expiration_time IS NULL OR expiration_time > ?)`).run(req.key, req.etag, now);
      if (r.changes !== 1) throw new ETagMismatchError(req.key);
    } else {
      this.stmt(`DELETE FROM "${this.table}" WHERE key = ?`).run(req.key);
    }
  }

  async set(req: SetRequest): Promise<void> {
    this.applySet(req, Date.now());
  }

  async delete(req: DeleteRequest): Promise<void> {
    this.applyDelete(req, Date.now());
  }

  async transaction(ops: TransactionOperation[]): Promise<void> {
    const now = Date.now();
    // IMMEDIATE: take the write lock first (waiting up to busyTimeout), so that instances sharing
    // the file never fail a transaction on a snapshot another one has written past.
    this.db
      .transaction(() => {
        for (const op of ops) {
          if (op.operation === 'upsert') this.applySet(op.request, now);
          else this.applyDelete(op.request, now);
        }
      })
      .immediate();
  }

  async query(raw: QueryRequest): Promise<QueryResponse> {
    const req = checkQuery(raw);
    const now = Date.now();
    const where: string[] = ['is_binary = 0', '(expiration_time IS NULL OR expiration_time > ?)'];
    const params: unknown[] = [now];
    if (req.keyPrefix) {
      where.push('substr(key, 1, ?) = ?');
      params.push(req.keyPrefix.length, req.keyPrefix);
    }
    if (req.filter) {
      const f = sqliteFilter(req.filter);
      where.push(f.sql);
      params.push(...f.params);
    }
    const order: string[] = [];
    for (const s of req.sort ?? []) {
      const k = sqliteSortKey(s.key);
      order.push(`${k.sql} ${s.order === 'DESC' ? 'DESC' : 'ASC'}`);
      params.push(...k.params);
    }
    order.push('key ASC');
    const { offset, limit } = pageOf(req);
    params.push(limit ?? -1, offset);
    const rows = this.db.prepare(`SELECT key, value, is_binary, etag, expiration_time FROM "${this.table}" WHERE ${where.join(' AND ')} ORDER BY ${order.join(', ')} LIMIT ? OFFSET ?`).all(...params) as Row[];
    const token = nextToken(offset, limit, rows.length);
    return { results: rows.map((r) => ({ key: r.key, data: decodeValue(r.value, false), etag: r.etag })), ...(token !== undefined ? { token } : {}) };
  }

  async close(): Promise<void> {
    if (this.cleanup) clearInterval(this.cleanup);
    if (this.db.open) this.db.close();
  }
}
