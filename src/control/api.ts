// The control plane's HTTP API on 127.0.0.1 (bearer token). The CLI and, later, the dashboard are
// its only clients; nobody else opens the store. The admin token (.berth/token) may call every route;
// a sidecar's credential (credentials.ts) only its own mesh watch/ack/activation and its service's
// log batches — anything else is 403 (docs/security.md).
//   GET  /api/v1/healthz                  → { app, pid }
//   GET  /api/v1/instances[?all=1]        → PsRow[]
//   GET  /api/v1/instances/:id            → InstanceSpec (for `berth exec`)
//   GET  /api/v1/status                   → services, nodes
//   GET  /api/v1/events?after=N&limit=M[&tail=K] → StoredEvent[] (tail: only the newest K)
//   GET  /api/v1/watch                    → text/event-stream of `change` notifications
//   POST /api/v1/apply   {desired}        → { changes }   (a DesiredState the client compiled)
//   GET  /api/v1/release/:service          → ReleaseStatus (release/status.ts)
//   GET  /api/v1/releases                  → { releases: ReleaseOverview[] } (every canary / blue-green service, with its steps)
//   POST /api/v1/release/:service/promote|abort|retry {full?} → ReleaseStatus; …/undo {toRevision?} → { service, number, revision, skippedSteps }
//   GET  /api/v1/history/:service          → { service, revisions: [{ number, revision, status, why, at, specFile, message? }] } (oldest first)
//   GET  /api/v1/desired                  → { desired: DesiredState | null } (`berth diff`)
//   GET  /api/v1/restart-generations      → { [service]: n } (what a compiler folds into revisions)
//   POST /api/v1/scale   {service, replicas}
//   POST /api/v1/restart {service}        → { revision }
//   POST /api/v1/stop, /api/v1/start {services} → { services: [{ service, replicas, changed }] } (`berth stop`/`berth start`)
//   POST /api/v1/down                     → 202; the process exits when everything has stopped
//   POST /api/v1/logs, GET /api/v1/logs   → embedded log store (see log-routes.ts)
//   POST /api/v1/traces, GET /api/v1/traces[/:id] → spans of sampled requests (trace-routes.ts, trace-store.ts)
//   POST /api/v1/sidecars/restart {name, service?} → { restarted: [{instance, pid}] } (revisions unchanged)
//   GET  /api/v1/stats                    → CPU % and memory of every running app and sidecar (`berth stats`)
//   GET  /api/v1/nodes                    → node statuses
//   POST /api/v1/nodes                    {name?, capacity?, labels?} → { name }   (`berth node add`)
//   POST /api/v1/nodes/:name/heartbeat    NodeHeartbeat (from node agents)
//   POST /api/v1/nodes/:name/{cordon,uncordon,drain,kill}
//   /api/v1/recordings[/stop|/:id/har]   → traffic recordings (`berth record`, see recordings.ts)
//   GET  /api/v1/replays[/:id]            → `berth replay` runs kept in .berth/replays/ (newest first; replay/report-store.ts)
//   POST /api/v1/mocks[/stop]             → `berth replay --mock-dependencies` (see mocks.ts)
//   /api/v1/mesh/{watch,status,ack}       → mesh discovery (see mesh-snapshots.ts, lib/mesh-protocol.ts)
//   /api/v1/gitops[/:name[/history|policy|sync|refresh|rollback|suspend|resume|promote]] → GitOps sources (gitops/routes.ts)
//   GET  /metrics, GET /api/v1/metrics    → Prometheus text 0.0.4: work queues, reconciles, API requests, store writes (metrics.ts)
//   GET  /, /<view>, /assets/*            → the dashboard (dashboard/static.ts); /api/v1/dashboard/* (dashboard/routes.ts).
//        Its login cookie (dashboard/auth.ts) reads the API and calls the CLI's operator actions; it may not apply or down.
import http from 'node:http';
import type { NodeHeartbeat } from '../lib/agent-protocol.js';
import { readDownEpoch } from '../lib/down-epoch.js';
import type { DesiredState } from '../plan/index.js';
import type { ControlPlane } from './control-plane.js';
import { authenticate, type Principal } from './credentials.js';
import { handleLogRoutes } from './log-routes.js';
import { LogIngest } from './log-ingest.js';
import { handleMeshApi, MeshFeed, meshServedServices } from './mesh-snapshots.js';
import { handleRecordingsApi, Recordings, type RecordingsHost } from './recordings.js';
import { handleMocksApi, Mocks } from './mocks.js';
import { apiRequestMetrics } from './api-metrics.js';
import { controlMetrics, PROMETHEUS_CONTENT_TYPE } from './metrics.js';
import { publicEntry } from './release/history.js';
import { dashboardMayCall, handleLogin, hasDashboardCookie, unauthorized } from './dashboard/auth.js';
import { DashboardFeed } from './dashboard/routes.js';
import { serveStatic } from './dashboard/static.js';
import { handleGitopsApi, handleWebhook } from './gitops/routes.js';
import { handleTraceRoutes } from './trace-routes.js';
import { listReplayReports, readReplayReport } from '../replay/index.js';
import { TraceStore } from './trace-store.js';

export interface ApiServerOptions {
  plane: ControlPlane;
  token: string;
  onDown: () => void;
  /** The dashboard's login token (`.berth/dashboard-token`); without it the dashboard is not served. */
  dashboardToken?: string;
}

function send(res: http.ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

async function readBody(req: http.IncomingMessage): Promise<Record<string, unknown>> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const c of req) {
    size += (c as Buffer).length;
    if (size > 1 << 20) throw new Error('request body too large');
    chunks.push(c as Buffer);
  }
  if (chunks.length === 0) return {};
  const parsed: unknown = JSON.parse(Buffer.concat(chunks).toString('utf8'));
  if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed)) throw new Error('request body must be a JSON object');
  return parsed as Record<string, unknown>;
}

/** The routes a sidecar credential may call (bodies are checked by their handlers: own proxy id, own service's records). */
function sidecarRoute(method: string, path: string): boolean {
  if (method === 'GET') return path === '/api/v1/mesh/watch';
  if (method === 'POST') return path === '/api/v1/mesh/ack' || path === '/api/v1/mesh/activate' || path === '/api/v1/logs' || path === '/api/v1/traces';
  return false;
}

/** Why a sidecar credential may not do this (403). */
function sidecarForbidden(p: Extract<Principal, { kind: 'sidecar' }>, what: string): string {
  return `forbidden: this is the credential of instance ${p.instance}'s sidecars; it may only watch and acknowledge that instance's mesh snapshot, ask for activation and send its log and span batches, not ${what}`;
}

export function createApiServer(opts: ApiServerOptions): http.Server {
  const { plane } = opts;
  let logIngest: LogIngest | undefined; // log batches are written by a worker thread, off this event loop
  const logs = (): LogIngest => (logIngest ??= new LogIngest(`${plane.layout.root}/logs.db`));
  const mesh = new MeshFeed(plane);
  let traceStore: TraceStore | undefined; // opened with the first span batch or read
  const traces = (): TraceStore => (traceStore ??= new TraceStore(`${plane.layout.root}/traces.db`, Number(process.env.BERTH_DASHBOARD_MAX_TRACES ?? 10_000) || 10_000));
  const dashboard = opts.dashboardToken ? new DashboardFeed(plane, mesh) : undefined;
  const recordingsHost: RecordingsHost = {
    // `ingress`: the gateway records what comes in through the ingress.
    // Only meshed services have sidecars to record in (a port and berth-proxy).
    services: () => [...meshServedServices(plane.desired())].filter((name) => !name.includes('.')).concat(plane.desired()?.mesh?.ingress ? ['ingress'] : []),
    specRecordings: () => plane.desired()?.mesh?.recordings ?? {},
    changed: () => mesh.poke(),
    synced: (ms) => mesh.synced(ms),
  };
  const recordings = new Recordings(plane.layout.root, recordingsHost);
  const mocks = new Mocks(plane.layout.root, recordingsHost);
  mesh.configOverlay = (c) => mocks.overlay(recordings.overlay(c));
  const countRequest = apiRequestMetrics();
  const server = http.createServer((req, res) => {
    countRequest(req, res);
    void handle(req, res).catch((err: Error) => {
      // A malformed percent-escape in the path (decodeURIComponent) is the client's error, not ours.
      if (!res.headersSent) send(res, err instanceof URIError ? 400 : 500, { error: err instanceof URIError ? `malformed percent-escape in ${JSON.stringify(req.url ?? '')}: ${err.message}` : err.message });
      else res.destroy();
    });
  });

  async function handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://localhost');
    const path = url.pathname;
    const method = req.method ?? 'GET';
    let principal = authenticate(opts.token, req.headers.authorization);
    let viaDashboard = false;
    // A git host's push webhook holds only its source's token: that source's refresh, nothing else.
    if (!principal && handleWebhook(plane.gitops, req, res, send)) return;
    // The dashboard: a browser with its login cookie (or arriving with ?token=), never a bearer token.
    if (!principal && opts.dashboardToken && req.headers.authorization === undefined) {
      const page = !path.startsWith('/api/') && path !== '/metrics';
      if (handleLogin(req, res, url, opts.dashboardToken)) return;
      if (!hasDashboardCookie(req, opts.dashboardToken)) return unauthorized(res, page);
      if (page) {
        if (!serveStatic(req, res, path)) send(res, 404, { error: `no page ${path}` });
        return;
      }
      if (!dashboardMayCall(method, path)) return send(res, 403, { error: `the dashboard may not call ${method} ${path}` });
      // A custom header a cross-site form cannot send (besides SameSite=Strict): no request forgery.
      if (method === 'POST' && req.headers['x-berth-dashboard'] !== '1') return send(res, 403, { error: 'dashboard actions need the x-berth-dashboard header' });
      principal = { kind: 'admin' };
      viaDashboard = true;
    }
    if (!principal) return send(res, 401, { error: 'missing or wrong bearer token (see .berth/token)' });
    // A sidecar's credential is scoped to its instance: the few routes its sidecars call, for itself only.
    const sidecar = principal.kind === 'sidecar' ? principal : undefined;
    if (sidecar && !sidecarRoute(method, path)) return send(res, 403, { error: sidecarForbidden(sidecar, `${method} ${path}`) });
    const forbid = sidecar ? (what: string) => sidecarForbidden(sidecar, what) : undefined;

    if (path === '/api/v1/logs' && (await handleLogRoutes(req, res, url, logs, sidecar && { service: sidecar.service, forbid: forbid! }))) return;
    if ((path === '/api/v1/traces' || path.startsWith('/api/v1/traces/')) && (await handleTraceRoutes(req, res, url, traces, send, () => readBody(req), sidecar && { proxy: sidecar.instance, forbid: forbid! }))) return;
    if (dashboard && !sidecar && path.startsWith('/api/v1/dashboard/') && dashboard.handle(req, res, url)) return;
    if (path.startsWith('/api/v1/mesh/') && (await handleMeshApi(mesh, req, res, url, sidecar && { proxy: sidecar.instance, forbid: forbid! }))) return;
    if (await handleGitopsApi(plane.gitops, req, res, path, send)) return;
    if (path.startsWith('/api/v1/mocks') && (await handleMocksApi(mocks, req, res, path, () => readBody(req)))) return;
    // The dashboard starts and stops recordings, but may not name a file for the control plane to write (`out`).
    if (path.startsWith('/api/v1/recordings') && (await handleRecordingsApi(recordings, req, res, path, () => readBody(req), { allowOut: !viaDashboard }))) return;
    if (method === 'GET' && path === '/api/v1/replays') return send(res, 200, { replays: await listReplayReports(plane.layout.root) });
    if (method === 'GET' && path.startsWith('/api/v1/replays/')) {
      const id = decodeURIComponent(path.slice('/api/v1/replays/'.length));
      const r = await readReplayReport(plane.layout.root, id);
      return r ? send(res, 200, r) : send(res, 404, { error: `no replay report ${id} (see GET /api/v1/replays)` });
    }
    if (method === 'GET' && (path === '/metrics' || path === '/api/v1/metrics')) {
      const text = controlMetrics.render();
      res.writeHead(200, { 'content-type': PROMETHEUS_CONTENT_TYPE, 'content-length': Buffer.byteLength(text) });
      res.end(text);
      return;
    }
    if (method === 'GET' && path === '/api/v1/healthz') return send(res, 200, { app: plane.status().app ?? null, pid: process.pid });
    if (method === 'GET' && path === '/api/v1/instances') return send(res, 200, plane.ps(url.searchParams.get('all') === '1'));
    if (method === 'GET' && path.startsWith('/api/v1/instances/')) {
      const spec = plane.instanceSpec(decodeURIComponent(path.slice('/api/v1/instances/'.length)));
      return spec ? send(res, 200, spec) : send(res, 404, { error: 'no such instance' });
    }
    if (method === 'GET' && path === '/api/v1/status') return send(res, 200, plane.status());
    if (method === 'GET' && path === '/api/v1/desired') return send(res, 200, { desired: plane.desired() ?? null });
    if (method === 'GET' && path === '/api/v1/stats') return send(res, 200, plane.stats());
    if (method === 'GET' && path.startsWith('/api/v1/history/')) {
      const service = decodeURIComponent(path.slice('/api/v1/history/'.length));
      const entries = plane.world.history.list(service);
      if (entries.length === 0 && !plane.world.spec(service)) return send(res, 404, { error: `no service "${service}" (and no history of one)` });
      return send(res, 200, { service, revisions: entries.map(publicEntry) });
    }
    if (method === 'GET' && path === '/api/v1/releases') return send(res, 200, { releases: plane.releaseOverviews() });
    if (method === 'GET' && path.startsWith('/api/v1/release/')) {
      try {
        return send(res, 200, plane.releaseStatus(decodeURIComponent(path.slice('/api/v1/release/'.length))));
      } catch (err) {
        return send(res, (err as { status?: number }).status ?? 500, { error: (err as Error).message });
      }
    }
    if (method === 'GET' && path === '/api/v1/restart-generations') return send(res, 200, plane.restartGenerations());
    if (method === 'GET' && path === '/api/v1/nodes') return send(res, 200, plane.nodeStatuses());
    if (method === 'GET' && path === '/api/v1/events') {
      const limit = Math.min(10_000, Number(url.searchParams.get('limit') ?? 1000) || 1000);
      // `tail=N`: only the newest N (the dashboard's views), without reading the whole history first.
      const tail = Number(url.searchParams.get('tail') ?? 0) || 0;
      const after = Math.max(Number(url.searchParams.get('after') ?? 0) || 0, tail > 0 ? plane.store.lastEventSeq() - tail : 0);
      return send(res, 200, plane.store.events(after, limit));
    }
    if (method === 'GET' && path === '/api/v1/watch') {
      res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', connection: 'keep-alive' });
      res.write(': watching\n\n');
      let timer: NodeJS.Timeout | undefined;
      const off = plane.onChange(() => {
        if (timer) return;
        timer = setTimeout(() => {
          timer = undefined;
          res.write(`event: change\ndata: {"seq":${plane.store.lastEventSeq()}}\n\n`);
        }, 20);
      });
      const beat = setInterval(() => res.write(': beat\n\n'), 15_000);
      req.on('close', () => {
        off();
        clearInterval(beat);
        if (timer) clearTimeout(timer);
      });
      return;
    }
    if (method === 'POST') {
      let body: Record<string, unknown>;
      try {
        body = await readBody(req);
      } catch (err) {
        return send(res, 400, { error: (err as Error).message });
      }
      if (path === '/api/v1/apply') {
        // A compiled desired state: the client validated and compiled the spec (the CLI does; see plan/compile.ts).
        const d = body.desired as DesiredState | undefined;
        if (!d || typeof d !== 'object' || typeof d.app !== 'string' || typeof d.specFile !== 'string' || !Array.isArray(d.services) || d.services.some((s) => !s || typeof s.name !== 'string' || typeof s.revision !== 'string' || !s.template))
          return send(res, 400, { error: '"desired" must be a compiled DesiredState (app, specFile, services with name, revision, template)' });
        // An `up` that a later `berth down` overtook must not start anything (see lib/down-epoch.ts).
        if (typeof body.downEpoch === 'string' && body.downEpoch !== readDownEpoch(plane.layout.root))
          return send(res, 409, { error: '`berth down` ran after this command began: nothing was applied', code: 'BERTH_E_STOPPED_BY_DOWN' });
        return send(res, 200, { changes: await plane.applyDesired(d) });
      }
      if (path === '/api/v1/scale') {
        const replicas = body.replicas;
        if (typeof body.service !== 'string' || typeof replicas !== 'number' || !Number.isInteger(replicas) || replicas < 0)
          return send(res, 400, { error: 'expected {"service": string, "replicas": integer ≥ 0}' });
        try {
          plane.scale(body.service, replicas);
        } catch (err) {
          return send(res, (err as { status?: number }).status ?? 404, { error: (err as Error).message });
        }
        return send(res, 200, { service: body.service, replicas });
      }
      if (path === '/api/v1/stop' || path === '/api/v1/start') {
        const services = body.services;
        if (!Array.isArray(services) || services.length === 0 || services.some((x) => typeof x !== 'string'))
          return send(res, 400, { error: 'expected {"services": [string, …]}' });
        try {
          return send(res, 200, { services: plane.setStopped(services as string[], path === '/api/v1/stop') });
        } catch (err) {
          return send(res, 404, { error: (err as Error).message });
        }
      }
      if (path === '/api/v1/restart') {
        if (typeof body.service !== 'string') return send(res, 400, { error: 'expected {"service": string}' });
        try {
          return send(res, 200, { service: body.service, revision: await plane.restart(body.service) });
        } catch (err) {
          return send(res, 404, { error: (err as Error).message });
        }
      }
      const releaseRoute = /^\/api\/v1\/release\/([^/]+)\/(promote|abort|retry|undo)$/.exec(path);
      if (releaseRoute) {
        const service = decodeURIComponent(releaseRoute[1]);
        try {
          if (releaseRoute[2] === 'undo') {
            const to = body.toRevision;
            if (to !== undefined && !(typeof to === 'number' && Number.isInteger(to) && to >= 1)) return send(res, 400, { error: 'expected {"toRevision"?: integer ≥ 1}' });
            return send(res, 200, await plane.releaseUndo(service, to as number | undefined));
          }
          return send(res, 200, plane.releaseAction(service, releaseRoute[2] as 'promote' | 'abort' | 'retry', body.full === true));
        } catch (err) {
          return send(res, (err as { status?: number }).status ?? 500, { error: (err as Error).message });
        }
      }
      const nodeRoute = /^\/api\/v1\/nodes\/([^/]+)\/(heartbeat|cordon|uncordon|drain|kill)$/.exec(path);
      if (nodeRoute) {
        const name = decodeURIComponent(nodeRoute[1]);
        if (nodeRoute[2] === 'heartbeat') {
          if (typeof body.pid !== 'number' || typeof body.node !== 'string' || body.node !== name) return send(res, 400, { error: 'expected a NodeHeartbeat for this node' });
          const accepted = plane.heartbeat(body as unknown as NodeHeartbeat);
          return send(res, accepted ? 200 : 409, accepted ? { ok: true } : { error: 'not the agent this control plane knows for the node' });
        }
        try {
          await plane.nodeAction(name, nodeRoute[2] as 'cordon' | 'uncordon' | 'drain' | 'kill');
        } catch (err) {
          return send(res, 404, { error: (err as Error).message });
        }
        return send(res, 200, { node: name, action: nodeRoute[2] });
      }
      if (path === '/api/v1/nodes') {
        const name = body.name === undefined ? undefined : String(body.name);
        const capacity = (body.capacity ?? {}) as { cpuMillis?: number; memoryMiB?: number };
        const labels = (body.labels ?? {}) as Record<string, string>;
        if (name !== undefined && !/^[a-z]([-a-z0-9]*[a-z0-9])?$/.test(name)) return send(res, 400, { error: `node name "${name}" must be a DNS-1123 label` });
        try {
          return send(res, 200, { name: await plane.addNode(name, capacity, labels) });
        } catch (err) {
          return send(res, 409, { error: (err as Error).message });
        }
      }
      if (path === '/api/v1/sidecars/restart') {
        if (typeof body.name !== 'string' || (body.service !== undefined && typeof body.service !== 'string')) return send(res, 400, { error: 'expected {"name": string, "service"?: string}' });
        try {
          return send(res, 200, { restarted: await plane.restartSidecars(body.name, body.service as string | undefined) });
        } catch (err) {
          return send(res, 404, { error: (err as Error).message });
        }
      }
      if (path === '/api/v1/down') {
        plane.down(opts.onDown);
        return send(res, 202, { stopping: true });
      }
    }
    send(res, 404, { error: `no route for ${method} ${path}` });
  }

  server.on('close', () => {
    void logIngest?.close();
    dashboard?.close();
  });
  return server;
}
