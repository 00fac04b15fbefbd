// The embedded log store: a SQLite database of its own (`.berth/logs.db`, WAL) opened only by the
// control plane. Agents POST batches (acknowledged after the commit; the record id makes a resent
// batch harmless); `berth logs` queries by service, time range, level and full text (FTS5 trigram
// index: substring search). Retention by size and age runs in the background. In the control plane
// a LogStore lives in a worker thread (log-writer-worker.ts), so writing a batch never blocks the
// controllers; queries go through a LogReader, a read-only connection beside it.
import Database from 'better-sqlite3';
import { PROXY_SIDECAR_NAME } from '../lib/mesh-protocol.js';

export interface StoredLogRecord {
  id: string;
  time: string;
  message: string;
  level?: string;
  stream: string;
  file?: string;
  process?: string;
  app?: string;
  service: string;
  variant?: string;
  revision?: string;
  instance: string;
  node?: string;
  fields?: Record<string, unknown>;
  truncated?: boolean;
  rawBase64?: string;
}

export interface LogQuery {
  services?: string[];
  instance?: string;
  process?: string;
  grep?: string;
  /** Minimum level (records without a level are left out when set). */
  level?: string;
  since?: string;
  until?: string;
  /** Only records stored after this sequence number (for following). */
  after?: number;
  /** Most recent N (in time order); unlimited when undefined. */
  limit?: number;
}

export interface LogRetention {
  maxBytes: number;
  maxAgeHours: number;
}

const LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal'];

/** Retention of the control plane's store: BERTH_LOG_RETENTION_MB (default 512) and BERTH_LOG_RETENTION_HOURS (default 168). */
export function retentionFromEnv(env: NodeJS.ProcessEnv = process.env): LogRetention {
  const num = (v: string | undefined, d: number) => (v !== undefined && Number(v) > 0 ? Number(v) : d);
  return { maxBytes: num(env.BERTH_LOG_RETENTION_MB, 512) * 1024 * 1024, maxAgeHours: num(env.BERTH_LOG_RETENTION_HOURS, 7 * 24) };
}

/**
 * Records of this process (the mesh proxy: its access log, a line per request) are not put in the
 * full-text index: a trigram index costs ~150 µs of the writer's CPU per 235-byte access-log line —
 * a third of a core at 1,000 requests/s through two proxies, on the machine that serves them. A
 * `--grep` finds them by scanning instead (newest first, so a recent match comes back at once; a
 * search that finds nothing reads them all: ~0.5 s per GB, like Loki's brute-force grep).
 */
export const SCANNED_PROCESS = PROXY_SIDECAR_NAME;

/** Epoch milliseconds (fractional, keeps microseconds) of an RFC 3339 time; NaN when invalid. */
function timeKey(iso: string): number {
  const ms = Date.parse(iso);
  const frac = /\.\d{3}(\d{1,3})/.exec(iso)?.[1];
  return frac ? ms + Number(frac.padEnd(3, '0')) / 1000 : ms;
}

/** Iterates matching records in time order (most recent `limit` when set), over either connection. */
function* queryLogs(db: Database.Database, q: LogQuery): Generator<StoredLogRecord & { seq: number }> {
  const where: string[] = [];
  const args: (string | number)[] = [];
  if (q.services && q.services.length > 0) {
    where.push(`service IN (${q.services.map(() => '?').join(',')})`);
    args.push(...q.services);
  }
  if (q.instance) {
    where.push('instance = ?');
    args.push(q.instance);
  }
  if (q.process) {
    where.push('process = ?');
    args.push(q.process);
  }
  if (q.level) {
    const lv = LEVELS.indexOf(q.level);
    if (lv < 0) throw new Error(`level must be one of ${LEVELS.join(', ')}`);
    where.push('level >= ?');
    args.push(lv);
  }
  if (q.since) {
    where.push('ts >= ?');
    args.push(timeKey(q.since));
  }
  if (q.until) {
    where.push('ts < ?');
    args.push(timeKey(q.until));
  }
  if (q.after !== undefined) {
    where.push('seq > ?');
    args.push(q.after);
  }
  if (q.grep) {
    if ([...q.grep].length >= 3) {
      // The trigram index (case-insensitive) for every record but the access log, which is scanned.
      where.push(`(seq IN (SELECT rowid FROM logs_fts WHERE logs_fts MATCH ?) OR (process = '${SCANNED_PROCESS}' AND instr(lower(message), lower(?)) > 0))`);
      args.push(`"${q.grep.replace(/"/g, '""')}"`, q.grep);
    } else {
      where.push("instr(message, ?) > 0");
      args.push(q.grep);
    }
  }
  const cond = where.length ? `WHERE ${where.join(' AND ')}` : '';
  if (q.limit !== undefined) {
    const rows = db.prepare(`SELECT seq, record FROM logs ${cond} ORDER BY ts DESC, seq DESC LIMIT ?`).all(...args, q.limit) as { seq: number; record: string }[];
    for (let i = rows.length - 1; i >= 0; i--) yield { ...(JSON.parse(rows[i].record) as StoredLogRecord), seq: rows[i].seq };
    return;
  }
  // Pages (keyset on ts, seq), each read in one synchronous call: the consumer may await between
  // pages (a slow client) while ingest keeps using the connection.
  const page = db.prepare(`SELECT seq, ts, record FROM logs ${cond ? cond + ' AND' : 'WHERE'} (ts > ? OR (ts = ? AND seq > ?)) ORDER BY ts, seq LIMIT 2000`);
  let lastTs = -1e300;
  let lastSeq = -1;
  for (;;) {
    const rows = page.all(...args, lastTs, lastTs, lastSeq) as { seq: number; ts: number; record: string }[];
    for (const row of rows) yield { ...(JSON.parse(row.record) as StoredLogRecord), seq: row.seq };
    if (rows.length < 2000) return;
    lastTs = rows[rows.length - 1].ts;
    lastSeq = rows[rows.length - 1].seq;
  }
}

/**
 * A read-only connection to a log database another connection (the writer thread) created: WAL lets
 * it read beside the writer, so `GET /api/v1/logs` never waits for a batch being written.
 */
export class LogReader {
  private readonly db: Database.Database;

  constructor(path: string) {
    this.db = new Database(path, { readonly: true, fileMustExist: true });
  }

  query(q: LogQuery): Generator<StoredLogRecord & { seq: number }> {
    return queryLogs(this.db, q);
  }

  close(): void {
    this.db.close();
  }
}

export class LogStore {
  private readonly db: Database.Database;
  private bytes: number;
  private readonly insert: Database.Statement;
  private readonly ingestTx: (records: StoredLogRecord[]) => { stored: number; duplicates: number };
  private retentionTimer: NodeJS.Timeout | undefined;

  constructor(
    path: string,
    private readonly retention: LogRetention = retentionFromEnv(),
  ) {
    this.db = new Database(path);
    this.db.pragma('journal_mode = WAL');
    // FULL: a batch is acknowledged only once its commit is on disk (power loss included); the fsync
    // costs the writer thread, not the control plane's event loop.
    this.db.pragma('synchronous = FULL');
    this.db.exec(`
      CREATE TABLE IF NOT EXISTS logs (
        seq INTEGER PRIMARY KEY,
        rid TEXT NOT NULL UNIQUE,
        ts REAL NOT NULL,
        service TEXT NOT NULL,
        instance TEXT NOT NULL,
        process TEXT NOT NULL,
        level INTEGER,
        message TEXT NOT NULL,
        record TEXT NOT NULL,
        bytes INTEGER NOT NULL
      );
      CREATE INDEX IF NOT EXISTS logs_ts ON logs(ts);
      CREATE INDEX IF NOT EXISTS logs_service_ts ON logs(service, ts);
      CREATE VIRTUAL TABLE IF NOT EXISTS logs_fts USING fts5(message, content='logs', content_rowid='seq', tokenize='trigram');
      CREATE TABLE IF NOT EXISTS logs_meta (k TEXT PRIMARY KEY, v INTEGER NOT NULL);
    `);
    // The access log is not in the full-text index (see SCANNED_PROCESS). A database made before
    // that had every row indexed: rows up to its last seq then leave the index when deleted.
    const oldTrigger = this.db.prepare("SELECT sql FROM sqlite_master WHERE type = 'trigger' AND name = 'logs_ai'").get() as { sql: string } | undefined;
    this.db.transaction(() => {
      if (oldTrigger && !oldTrigger.sql.includes('WHEN')) this.db.prepare("INSERT OR REPLACE INTO logs_meta (k, v) VALUES ('indexed_all_until', (SELECT COALESCE(MAX(seq), 0) FROM logs))").run();
      this.db.prepare("INSERT OR IGNORE INTO logs_meta (k, v) VALUES ('indexed_all_until', 0)").run();
      this.db.exec(`
        DROP TRIGGER IF EXISTS logs_ai;
        DROP TRIGGER IF EXISTS logs_ad;
        CREATE TRIGGER logs_ai AFTER INSERT ON logs WHEN new.process <> '${SCANNED_PROCESS}' BEGIN
          INSERT INTO logs_fts(rowid, message) VALUES (new.seq, new.message);
        END;
        CREATE TRIGGER logs_ad AFTER DELETE ON logs
        WHEN old.process <> '${SCANNED_PROCESS}' OR old.seq <= (SELECT v FROM logs_meta WHERE k = 'indexed_all_until') BEGIN
          INSERT INTO logs_fts(logs_fts, rowid, message) VALUES ('delete', old.seq, old.message);
        END;
      `);
    })();
    this.bytes = (this.db.prepare('SELECT COALESCE(SUM(bytes), 0) AS b FROM logs').get() as { b: number }).b;
    this.insert = this.db.prepare(
      'INSERT OR IGNORE INTO logs (rid, ts, service, instance, process, level, message, record, bytes) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)',
    );
    this.ingestTx = this.db.transaction((records: StoredLogRecord[]) => {
      let stored = 0;
      let duplicates = 0;
      for (const r of records) {
        const text = JSON.stringify(r);
        const ts = timeKey(r.time);
        const lv = r.level ? LEVELS.indexOf(r.level) : -1;
        const res = this.insert.run(r.id, Number.isNaN(ts) ? Date.now() : ts, r.service, r.instance, r.process ?? 'app', lv >= 0 ? lv : null, r.message, text, text.length);
        if (res.changes > 0) {
          stored++;
          this.bytes += text.length;
        } else duplicates++;
      }
      return { stored, duplicates };
    });
    this.retentionTimer = setInterval(() => this.enforceRetention(), 30_000);
    this.retentionTimer.unref();
  }

  /** Stores a batch in one transaction; returns once committed. Throws on malformed records (nothing stored). */
  ingest(records: unknown[]): { stored: number; duplicates: number } {
    const valid: StoredLogRecord[] = [];
    for (const [i, r] of records.entries()) {
      const o = r as Partial<StoredLogRecord> | null;
      if (!o || typeof o !== 'object' || typeof o.id !== 'string' || typeof o.time !== 'string' || typeof o.message !== 'string' || typeof o.service !== 'string' || typeof o.instance !== 'string')
        throw new Error(`records[${i}]: expected {id, time, message, service, instance, …} strings`);
      valid.push(o as StoredLogRecord);
    }
    const res = this.ingestTx(valid);
    if (this.bytes > this.retention.maxBytes) this.enforceRetention();
    return res;
  }

  /** Iterates matching records in time order (most recent `limit` when set). */
  query(q: LogQuery): Generator<StoredLogRecord & { seq: number }> {
    return queryLogs(this.db, q);
  }

  stats(): { records: number; bytes: number; lastSeq: number } {
    const r = this.db.prepare('SELECT COUNT(*) AS n, COALESCE(MAX(seq), 0) AS last FROM logs').get() as { n: number; last: number };
    return { records: r.n, bytes: this.bytes, lastSeq: r.last };
  }

  /** Deletes records older than maxAgeHours, then the oldest until under maxBytes (in small transactions). */
  enforceRetention(): void {
    const cutoff = Date.now() - this.retention.maxAgeHours * 3600_000;
    const del = this.db.prepare('DELETE FROM logs WHERE seq IN (SELECT seq FROM logs WHERE ts < ? ORDER BY ts LIMIT 5000) RETURNING bytes');
    for (;;) {
      const rows = del.all(cutoff) as { bytes: number }[];
      for (const r of rows) this.bytes -= r.bytes;
      if (rows.length < 5000) break;
    }
    const oldest = this.db.prepare('DELETE FROM logs WHERE seq IN (SELECT seq FROM logs ORDER BY ts LIMIT ?) RETURNING bytes');
    const count = this.db.prepare('SELECT COUNT(*) AS n FROM logs');
    // Trim to 90% of the limit so retention does not run on every batch; at most 2000 rows per transaction.
    const target = this.retention.maxBytes * 0.9;
    let n = this.bytes > target ? (count.get() as { n: number }).n : 0;
    while (this.bytes > target && n > 0) {
      const avg = this.bytes / n;
      const rows = oldest.all(Math.max(1, Math.min(2000, Math.ceil((this.bytes - target) / avg)))) as { bytes: number }[];
      if (rows.length === 0) break;
      n -= rows.length;
      for (const r of rows) this.bytes -= r.bytes;
    }
  }

  close(): void {
    if (this.retentionTimer) clearInterval(this.retentionTimer);
    this.db.close();
  }
}
