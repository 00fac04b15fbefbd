// The dashboard's own API routes (the views also read the general API: instances, status, events, logs, nodes):
//   GET /api/v1/dashboard/overview          → { app, services: [...], ingress, edges: MetricPoint[], points: MetricPoint[] } (topology + last rates)
//   GET /api/v1/dashboard/metrics?since=MS  → MetricPoint[] (oldest first; default: the last 15 minutes)
//   GET /api/v1/dashboard/shadow            → ShadowReport (mirrored answers compared, read from the proxies now; diffs.ts)
//   GET /api/v1/dashboard/replay-gates      → { gates: ReplayGate[] } (replay measurements of the current releases)
//   GET /api/v1/dashboard/components        → { components, subscriptions } (components.ts)
//   GET /api/v1/dashboard/stream            → text/event-stream: `change` (state changed; at most one a second),
//                                             `metrics` (the points of each collection), comments as heartbeats
// The collector reads the proxies every BERTH_DASHBOARD_METRICS_MS (default 5000, at least 1000) whether or
// not a dashboard is open, so history has no holes; BERTH_DASHBOARD_MAX_POINTS bounds what is kept.
import type http from 'node:http';
import { join } from 'node:path';
import type { ControlPlane } from '../control-plane.js';
import { gatewayNode } from '../controllers/node.js';
import type { MeshFeed } from '../mesh-snapshots.js';
import { componentsView } from './components.js';
import { readShadow, replayGates } from './diffs.js';
import { MetricHistory, statsTargets, type MetricPoint, type StatsTarget } from './metric-history.js';

const FIFTEEN_MIN = 15 * 60_000;

function sendJson(res: http.ServerResponse, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text), 'cache-control': 'no-store' });
  res.end(text);
}

export interface DashboardService {
  name: string;
  port: number | null;
  uses: string[];
  replicas: number;
  ready: number;
  stopped: boolean;
  variants: string[];
}

export class DashboardFeed {
  readonly history: MetricHistory;
  private readonly timer: NodeJS.Timeout;
  private readonly streams = new Set<http.ServerResponse>();
  private last: MetricPoint[] = [];
  private changeTimer: NodeJS.Timeout | undefined;
  private lastChange = 0;
  private collecting = false;
  private readonly offChange: () => void;

  constructor(
    private readonly plane: ControlPlane,
    private readonly mesh: MeshFeed,
    intervalMs = Math.max(1000, Number(process.env.BERTH_DASHBOARD_METRICS_MS ?? 5000) || 5000),
  ) {
    this.history = new MetricHistory({ file: join(plane.layout.root, 'metrics.db'), maxPoints: Number(process.env.BERTH_DASHBOARD_MAX_POINTS ?? 50_000) || 50_000 });
    this.timer = setInterval(() => void this.collect(), intervalMs);
    this.timer.unref();
    this.offChange = plane.onChange(() => this.changed());
  }

  /** One collection: reads the proxies, stores the points, sends them to open dashboards. */
  async collect(): Promise<void> {
    if (this.collecting || this.plane.world.down) return;
    this.collecting = true;
    try {
      this.last = await this.history.collect(this.targets());
      if (this.last.length > 0) this.broadcast('metrics', JSON.stringify(this.last));
    } catch {
      // a failed read (a proxy restarting, the store closing at exit) loses one point; the next one comes
    } finally {
      this.collecting = false;
    }
  }

  /** Every proxy with an admin port: the registered instances' sidecars and the gateway. */
  private targets(): StatsTarget[] {
    const snap = this.mesh.current();
    const world = this.plane.world;
    const gwNode = snap.services.length > 0 || snap.config.ingress ? gatewayNode(world) : undefined;
    const gateway = gwNode ? { host: `127.${world.node(gwNode)!.idx}.${world.slot}.1` } : undefined;
    return statsTargets(snap.services, gateway);
  }

  /** State changed: open dashboards are told at most once a second (they re-read what they show). */
  private changed(): void {
    if (this.streams.size === 0 || this.changeTimer) return;
    const wait = Math.max(0, this.lastChange + 1000 - Date.now());
    this.changeTimer = setTimeout(() => {
      this.changeTimer = undefined;
      this.lastChange = Date.now();
      this.broadcast('change', `{"seq":${this.plane.store.lastEventSeq()}}`);
    }, wait);
  }

  private broadcast(event: string, data: string): void {
    for (const res of this.streams) res.write(`event: ${event}\ndata: ${data}\n\n`);
  }

  overview(): { app: string | null; services: DashboardService[]; ingress: { port: number } | null; points: MetricPoint[] } {
    const status = this.plane.status();
    const desired = this.plane.desired();
    const own = (desired?.services ?? []).filter((s) => !s.name.includes('.'));
    const services = own.map((s) => {
      const deployments = status.services.filter((d) => d.name === s.name || d.name.startsWith(`${s.name}.`));
      return {
        name: s.name,
        port: s.port ?? null,
        uses: s.uses,
        replicas: deployments.reduce((n, d) => n + d.replicas, 0),
        ready: deployments.reduce((n, d) => n + d.ready, 0),
        stopped: deployments.length > 0 && deployments.every((d) => d.stopped !== undefined),
        variants: deployments.map((d) => (d.name.includes('.') ? d.name.slice(d.name.indexOf('.') + 1) : 'default')),
      };
    });
    const ingressPort = desired?.mesh?.ingress?.port;
    return { app: status.app ?? null, services, ingress: ingressPort !== undefined ? { port: ingressPort } : null, points: this.last };
  }

  /** Serves /api/v1/dashboard/*; false for other paths. */
  handle(req: http.IncomingMessage, res: http.ServerResponse, url: URL): boolean {
    if (req.method !== 'GET') return false;
    if (url.pathname === '/api/v1/dashboard/overview') {
      sendJson(res, this.overview());
      return true;
    }
    if (url.pathname === '/api/v1/dashboard/metrics') {
      const since = Number(url.searchParams.get('since') ?? NaN);
      sendJson(res, this.history.query(Number.isFinite(since) ? since : Date.now() - FIFTEEN_MIN));
      return true;
    }
    if (url.pathname === '/api/v1/dashboard/replay-gates') {
      sendJson(res, { gates: replayGates(this.plane) });
      return true;
    }
    const read = url.pathname === '/api/v1/dashboard/shadow' ? () => readShadow(this.targets()) : url.pathname === '/api/v1/dashboard/components' ? () => componentsView(this.plane.desired(), this.targets()) : undefined;
    if (read) {
      read().then(
        (body) => sendJson(res, body),
        (err: Error) => {
          res.writeHead(500, { 'content-type': 'application/json' });
          res.end(JSON.stringify({ error: err.message }));
        },
      );
      return true;
    }
    if (url.pathname === '/api/v1/dashboard/stream') {
      res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', connection: 'keep-alive' });
      res.write(': dashboard\n\n');
      this.streams.add(res);
      const beat = setInterval(() => res.write(': beat\n\n'), 15_000);
      req.on('close', () => {
        clearInterval(beat);
        this.streams.delete(res);
      });
      return true;
    }
    return false;
  }

  close(): void {
    clearInterval(this.timer);
    if (this.changeTimer) clearTimeout(this.changeTimer);
    this.offChange();
    for (const res of this.streams) res.end();
    this.streams.clear();
    this.history.close();
  }
}
