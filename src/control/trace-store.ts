// The control plane's trace store: spans the mesh proxies send (POST /api/v1/traces), kept in
// `.berth/traces.db` (SQLite, written only by the control plane) so traces survive a restart. A
// trace row summarises its spans (start, end, services, worst status) for the list; the oldest
// traces beyond the limit (default 10,000, as Aspire's) are dropped with their spans.
import Database from 'better-sqlite3';
import type { TraceSpan } from '../lib/mesh-protocol.js';

export interface TraceSummary {
  traceId: string;
  /** Epoch ms of the first span; durationMs: to the end of the last. */
  start: number;
  durationMs: number;
  /** The first span's receiver (the entry service). */
  root: string;
  services: string[];
  /** The worst status of any span. */
  status: number;
  spans: number;
}

export interface TraceQuery {
  service?: string;
  /** `error` (a span ≥ 500), `ok` (none), or an exact status some span had. */
  status?: string;
  minMs?: number;
  limit?: number;
}

interface SpanRow {
  trace_id: string;
  span_id: string;
  parent_id: string | null;
  kind: 'server' | 'client';
  service: string;
  source: string | null;
  variant: string;
  route: string;
  method: string;
  path: string;
  status: number;
  start: number;
  duration: number;
  proxy: string;
  shadow: number | null;
}

interface TraceRow {
  trace_id: string;
  start: number;
  stop: number;
  root: string;
  services: string;
  status: number;
  spans: number;
}

const HEX32 = /^[0-9a-f]{32}$/;
const HEX16 = /^[0-9a-f]{16}$/;

/** Why a posted span is not one (undefined: it is). */
export function spanProblem(s: unknown): string | undefined {
  if (!s || typeof s !== 'object') return 'not an object';
  const v = s as Record<string, unknown>;
  if (typeof v.traceId !== 'string' || !HEX32.test(v.traceId)) return 'traceId must be 32 lower-case hex digits';
  if (typeof v.spanId !== 'string' || !HEX16.test(v.spanId)) return 'spanId must be 16 lower-case hex digits';
  if (v.parentId !== undefined && (typeof v.parentId !== 'string' || !HEX16.test(v.parentId))) return 'parentId must be 16 lower-case hex digits';
  if (v.kind !== 'server' && v.kind !== 'client') return 'kind must be server or client';
  for (const k of ['service', 'variant', 'route', 'method', 'path', 'proxy'] as const) if (typeof v[k] !== 'string') return `${k} must be a string`;
  if (v.shadow !== undefined && typeof v.shadow !== 'boolean') return 'shadow must be a boolean';
  for (const k of ['status', 'start', 'durationMs'] as const) if (typeof v[k] !== 'number' || !Number.isFinite(v[k])) return `${k} must be a number`;
  return undefined;
}

export class TraceStore {
  private readonly db: Database.Database;
  readonly maxTraces: number;
  private readonly insertSpan: Database.Statement;
  private readonly upsertTrace: Database.Statement;
  private sinceTrim = 0;

  constructor(file: string, maxTraces = 10_000) {
    this.maxTraces = Math.max(10, maxTraces);
    this.db = new Database(file);
    this.db.pragma('journal_mode = WAL');
    this.db.pragma('synchronous = NORMAL');
    this.db.exec(`CREATE TABLE IF NOT EXISTS traces (
        trace_id TEXT PRIMARY KEY, seq INTEGER NOT NULL, start REAL NOT NULL, stop REAL NOT NULL, root TEXT NOT NULL,
        services TEXT NOT NULL, status INTEGER NOT NULL, spans INTEGER NOT NULL);
      CREATE INDEX IF NOT EXISTS traces_seq ON traces (seq);
      CREATE TABLE IF NOT EXISTS spans (
        trace_id TEXT NOT NULL, span_id TEXT NOT NULL, parent_id TEXT, kind TEXT NOT NULL, service TEXT NOT NULL, source TEXT,
        variant TEXT NOT NULL, route TEXT NOT NULL, method TEXT NOT NULL, path TEXT NOT NULL, status INTEGER NOT NULL,
        start REAL NOT NULL, duration REAL NOT NULL, proxy TEXT NOT NULL, shadow INTEGER, PRIMARY KEY (trace_id, span_id, kind));`);
    // A store written before mirror copies had spans of their own lacks the column.
    const columns = this.db.prepare('PRAGMA table_info(spans)').all() as { name: string }[];
    if (!columns.some((c) => c.name === 'shadow')) this.db.exec('ALTER TABLE spans ADD COLUMN shadow INTEGER');
    this.insertSpan = this.db.prepare(
      'INSERT OR IGNORE INTO spans (trace_id, span_id, parent_id, kind, service, source, variant, route, method, path, status, start, duration, proxy, shadow) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)',
    );
    // services: ",a,b," so a service filter is one LIKE; the root is the earliest span's receiver.
    this.upsertTrace = this.db.prepare(`INSERT INTO traces (trace_id, seq, start, stop, root, services, status, spans)
        VALUES (@id, (SELECT COALESCE(MAX(seq), 0) + 1 FROM traces), @start, @end, @service, ',' || @service || ',', @status, 1)
      ON CONFLICT (trace_id) DO UPDATE SET
        root = CASE WHEN @start < start THEN @service ELSE root END,
        start = MIN(start, @start), stop = MAX(stop, @end),
        services = CASE WHEN instr(services, ',' || @service || ',') > 0 THEN services ELSE services || @service || ',' END,
        status = MAX(status, @status), spans = spans + 1`);
  }

  /** Stores a batch (invalid spans are skipped); returns how many were stored. */
  add(spans: TraceSpan[]): number {
    let n = 0;
    this.db.transaction(() => {
      for (const s of spans) {
        const r = this.insertSpan.run(s.traceId, s.spanId, s.parentId ?? null, s.kind, s.service, s.source ?? null, s.variant, s.route, s.method, s.path, s.status, s.start, s.durationMs, s.proxy, s.shadow === true ? 1 : null);
        if (r.changes === 0) continue; // sent twice
        this.upsertTrace.run({ id: s.traceId, start: s.start, end: s.start + s.durationMs, service: s.service, status: s.status });
        n++;
      }
    })();
    this.sinceTrim += n;
    if (this.sinceTrim >= 100 || this.count() > this.maxTraces) this.trim();
    return n;
  }

  count(): number {
    return (this.db.prepare('SELECT COUNT(*) AS n FROM traces').get() as { n: number }).n;
  }

  /** Newest first. */
  list(q: TraceQuery = {}): TraceSummary[] {
    const where: string[] = [];
    const args: (string | number)[] = [];
    if (q.service) {
      where.push("instr(services, ',' || ? || ',') > 0");
      args.push(q.service);
    }
    if (q.status === 'error') where.push('status >= 500');
    else if (q.status === 'ok') where.push('status < 500');
    else if (q.status !== undefined && q.status !== '') {
      where.push('EXISTS (SELECT 1 FROM spans s WHERE s.trace_id = traces.trace_id AND s.status = ?)');
      args.push(Number(q.status));
    }
    if (q.minMs !== undefined) {
      where.push('stop - start >= ?');
      args.push(q.minMs);
    }
    const limit = Math.min(Math.max(1, q.limit ?? 100), 1000);
    const rows = this.db.prepare(`SELECT * FROM traces ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY start DESC LIMIT ?`).all(...args, limit) as TraceRow[];
    return rows.map((r) => ({ traceId: r.trace_id, start: r.start, durationMs: r.stop - r.start, root: r.root, services: r.services.split(',').filter(Boolean), status: r.status, spans: r.spans }));
  }

  /** A trace's spans, earliest first; undefined when it is not kept. */
  get(traceId: string): { trace: TraceSummary; spans: TraceSpan[] } | undefined {
    const t = this.db.prepare('SELECT * FROM traces WHERE trace_id = ?').get(traceId) as TraceRow | undefined;
    if (!t) return undefined;
    const rows = this.db.prepare('SELECT * FROM spans WHERE trace_id = ? ORDER BY start, kind DESC').all(traceId) as SpanRow[];
    return {
      trace: { traceId: t.trace_id, start: t.start, durationMs: t.stop - t.start, root: t.root, services: t.services.split(',').filter(Boolean), status: t.status, spans: t.spans },
      spans: rows.map((r) => ({
        traceId: r.trace_id,
        spanId: r.span_id,
        ...(r.parent_id ? { parentId: r.parent_id } : {}),
        kind: r.kind,
        service: r.service,
        ...(r.source ? { source: r.source } : {}),
        variant: r.variant,
        route: r.route,
        method: r.method,
        path: r.path,
        status: r.status,
        start: r.start,
        durationMs: r.duration,
        proxy: r.proxy,
        ...(r.shadow ? { shadow: true } : {}),
      })),
    };
  }

  /** Drops the oldest traces (first seen) beyond the limit, with their spans. */
  trim(): void {
    this.sinceTrim = 0;
    const over = this.count() - this.maxTraces;
    if (over <= 0) return;
    this.db.transaction(() => {
      const cut = (this.db.prepare('SELECT seq FROM traces ORDER BY seq LIMIT 1 OFFSET ?').get(over - 1) as { seq: number }).seq;
      this.db.prepare('DELETE FROM spans WHERE trace_id IN (SELECT trace_id FROM traces WHERE seq <= ?)').run(cut);
      this.db.prepare('DELETE FROM traces WHERE seq <= ?').run(cut);
    })();
  }

  close(): void {
    this.db.close();
  }
}
