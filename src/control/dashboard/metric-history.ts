// The dashboard's traffic history: every few seconds the control plane reads each mesh proxy's
// cumulative counters (GET /mesh/stats on its admin port, the same source as `berth top`), turns two
// reads into rates per service/variant (inbound series) and per call edge (outbound series: the
// caller's service → the destination; the gateway's are `ingress` → service), and keeps the points in
// `.berth/metrics.db` (SQLite) with a row limit, so charts survive a control-plane restart.
import Database from 'better-sqlite3';
import { requestJson } from '../../lib/http.js';
import { meshPorts, STATS_BUCKETS, type MeshStatsSeries } from '../../lib/mesh-protocol.js';
import { quantileMs } from '../mesh-snapshots.js';

/** One point: a service (and variant) as its inbound proxies saw it, or one caller → callee edge. */
export interface MetricPoint {
  /** Epoch milliseconds at the end of the window. */
  t: number;
  kind: 'service' | 'edge';
  /** The caller (`ingress` for the gateway) on edges; the service on service points. */
  source: string;
  /** The callee on edges; the service on service points. */
  target: string;
  /** Variant on service points (`default` for the service's own instances); `-` on edges. */
  variant: string;
  rps: number;
  errorPct: number;
  p50Ms: number | null;
  p99Ms: number | null;
}

/** A proxy to read: a registered instance's sidecar, or the gateway. */
export interface StatsTarget {
  id: string;
  /** The service whose proxy this is (`ingress` for the gateway). */
  service: string;
  variant: string;
  host: string;
  adminPort: number;
}

export interface MetricHistoryOptions {
  file: string;
  /** Rows kept (oldest dropped first); default 50,000, as Aspire's metric-point limit. */
  maxPoints?: number;
}

interface Row {
  t: number;
  kind: 'service' | 'edge';
  source: string;
  target: string;
  variant: string;
  rps: number;
  error_pct: number;
  p50: number | null;
  p99: number | null;
}

export class MetricHistory {
  private readonly db: Database.Database;
  private readonly maxPoints: number;
  private readonly insert: Database.Statement;
  private readonly samples = new Map<string, { at: number; series: MeshStatsSeries[] }>();
  private sinceTrim = 0;

  constructor(opts: MetricHistoryOptions) {
    this.maxPoints = Math.max(100, opts.maxPoints ?? 50_000);
    this.db = new Database(opts.file);
    this.db.pragma('journal_mode = WAL');
    this.db.pragma('synchronous = NORMAL');
    this.db.exec(`CREATE TABLE IF NOT EXISTS metric_points (
      id INTEGER PRIMARY KEY AUTOINCREMENT, t INTEGER NOT NULL, kind TEXT NOT NULL, source TEXT NOT NULL, target TEXT NOT NULL,
      variant TEXT NOT NULL, rps REAL NOT NULL, error_pct REAL NOT NULL, p50 REAL, p99 REAL);
      CREATE INDEX IF NOT EXISTS metric_points_t ON metric_points (t);`);
    this.insert = this.db.prepare('INSERT INTO metric_points (t, kind, source, target, variant, rps, error_pct, p50, p99) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)');
    this.trim();
  }

  /** Reads every target once; returns the points of the window since the previous read (none on the first). */
  async collect(targets: StatsTarget[], now = Date.now()): Promise<MetricPoint[]> {
    const reads = await Promise.all(
      targets.map(async (t) => {
        const answer = await requestJson<unknown>({ host: t.host, port: t.adminPort, timeoutMs: 1000 }, 'GET', '/mesh/stats').catch(() => undefined);
        // Anything but an array of series (a proxy starting, another process on the port) counts as no answer.
        return { ...t, series: Array.isArray(answer) ? (answer as MeshStatsSeries[]) : undefined };
      }),
    );
    // Rates add up per proxy (each over its own window since its previous read).
    type Acc = { count: number; errors: number; buckets: number[]; rps: number; measured: boolean };
    const services = new Map<string, Acc & { service: string; variant: string }>();
    const edges = new Map<string, Acc & { source: string; target: string }>();
    const acc = <T extends Acc>(m: Map<string, T>, key: string, init: () => T): T => {
      let a = m.get(key);
      if (!a) m.set(key, (a = init()));
      return a;
    };
    const zero = (): Acc => ({ count: 0, errors: 0, buckets: STATS_BUCKETS.map(() => 0), rps: 0, measured: false });
    for (const r of reads) {
      if (!r.series) continue;
      const prev = this.samples.get(r.id);
      this.samples.set(r.id, { at: now, series: r.series });
      // A registered instance with no inbound traffic yet still has a (zero) row.
      if (r.service !== 'ingress') acc(services, `${r.service}\u0000${r.variant}`, () => ({ ...zero(), service: r.service, variant: r.variant }));
      if (!prev) continue;
      const seconds = (now - prev.at) / 1000;
      if (seconds <= 0) continue;
      if (r.service !== 'ingress') services.get(`${r.service}\u0000${r.variant}`)!.measured = true;
      for (const s of r.series) {
        const before = prev.series.find((p) => p.direction === s.direction && p.destination === s.destination && p.variant === s.variant);
        // A restarted proxy starts its counters again: its first window after that is skipped, not negative.
        if (before && s.count < before.count) continue;
        const a =
          s.direction === 'inbound'
            ? acc(services, `${r.service}\u0000${r.variant}`, () => ({ ...zero(), service: r.service, variant: r.variant }))
            : acc(edges, `${r.service}\u0000${s.destination}`, () => ({ ...zero(), source: r.service, target: s.destination }));
        a.measured = true;
        a.rps += (s.count - (before?.count ?? 0)) / seconds;
        a.count += s.count - (before?.count ?? 0);
        a.errors += s.errors - (before?.errors ?? 0);
        s.buckets.forEach((b, i) => (a.buckets[i] += b - (before?.buckets[i] ?? 0)));
      }
    }
    for (const id of this.samples.keys()) if (!targets.some((t) => t.id === id)) this.samples.delete(id);
    const point = (a: Acc) => {
      return {
        t: now,
        rps: Math.round(a.rps * 100) / 100,
        errorPct: a.count > 0 ? Math.round((a.errors / a.count) * 1000) / 10 : 0,
        p50Ms: quantileMs(a.buckets, a.count, 0.5),
        p99Ms: quantileMs(a.buckets, a.count, 0.99),
      };
    };
    const out: MetricPoint[] = [
      ...[...services.values()].filter((a) => a.measured).map((a) => ({ kind: 'service' as const, source: a.service, target: a.service, variant: a.variant, ...point(a) })),
      ...[...edges.values()].map((a) => ({ kind: 'edge' as const, source: a.source, target: a.target, variant: '-', ...point(a) })),
    ];
    this.record(out);
    return out;
  }

  record(points: MetricPoint[]): void {
    if (points.length === 0) return;
    this.db.transaction(() => {
      for (const p of points) this.insert.run(p.t, p.kind, p.source, p.target, p.variant, p.rps, p.errorPct, p.p50Ms, p.p99Ms);
    })();
    this.sinceTrim += points.length;
    if (this.sinceTrim > this.maxPoints / 20) this.trim();
  }

  /** Points at or after `since` (epoch ms), oldest first; at most `limit`. */
  query(since: number, limit = 50_000): MetricPoint[] {
    const rows = this.db.prepare('SELECT t, kind, source, target, variant, rps, error_pct, p50, p99 FROM metric_points WHERE t >= ? ORDER BY t, id LIMIT ?').all(since, limit) as Row[];
    return rows.map((r) => ({ t: r.t, kind: r.kind, source: r.source, target: r.target, variant: r.variant, rps: r.rps, errorPct: r.error_pct, p50Ms: r.p50, p99Ms: r.p99 }));
  }

  count(): number {
    return (this.db.prepare('SELECT count(*) AS n FROM metric_points').get() as { n: number }).n;
  }

  /** Drops the oldest rows beyond the limit. */
  private trim(): void {
    this.sinceTrim = 0;
    const over = this.count() - this.maxPoints;
    if (over > 0) this.db.prepare('DELETE FROM metric_points WHERE id IN (SELECT id FROM metric_points ORDER BY id LIMIT ?)').run(over);
  }

  close(): void {
    this.db.close();
  }
}

/** The proxies to read: every registered endpoint's sidecar and the gateway. */
export function statsTargets(services: { name: string; port: number; endpoints: { id: string; host: string; variant: string }[] }[], gateway: { host: string } | undefined): StatsTarget[] {
  const out: StatsTarget[] = services.flatMap((s) => s.endpoints.map((e) => ({ id: e.id, service: s.name, variant: e.variant, host: e.host, adminPort: meshPorts(s.port).admin })));
  if (gateway) out.push({ id: 'berth-gateway', service: 'ingress', variant: '-', host: gateway.host, adminPort: meshPorts(0).admin });
  return out;
}
