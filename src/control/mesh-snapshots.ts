// Discovery for the mesh: turns desired state + observed readiness into versioned MeshSnapshots
// (an endpoint is registered while its instance is active and ready, withdrawn otherwise), streams
// them to the proxies over SSE, records their acknowledgements, and supervises the gateway process.
//
// Where the gateway runs: it is a system instance (id `berth-gateway`) that the control plane adds to
// node-1's desired set. The node agent supervises it like any instance (restarts it, captures its
// log) and keeps it running while the control plane is down or restarting; a restarted control plane
// sends the same instance (same id, same revision) again, so it is adopted, not restarted. Its
// listeners come from the snapshots, so a spec change never restarts it.
import http from 'node:http';
import { fileURLToPath } from 'node:url';
import type { InstanceSpec } from '../lib/agent-protocol.js';
import { canonicalJson } from '../lib/canonical-json.js';
import { GATEWAY_ID, MESH_HEARTBEAT_MS, meshPorts, PROXY_ENV, PROXY_NODE_FLAGS, PROXY_SIDECAR_NAME, STATS_BUCKETS, type MeshActivation, type MeshConfig, type MeshSnapshot, type MeshStatsSeries, type MeshStatus, type MeshTopRow } from '../lib/mesh-protocol.js';
import type { DesiredState } from '../plan/index.js';
import { variantOf } from './instances.js';
import { CANARY_VARIANT, endpointVariant, previewServices, releaseMeshConfig } from './release/state.js';
import type { World } from './world.js';

/** What the mesh feed needs of the control plane: the read model and a few hooks (no import of the control plane). */
export interface MeshPlane {
  readonly world: World;
  onChange(fn: () => void): () => void;
  attachMesh(synced: () => boolean): void;
  meshAcked(): void;
  activate(service: string, why: string): string[];
  status(): { services: { name: string; replicas: number; autoscale?: { desired: number; reason: string } }[] };
  /** False until the control plane has adopted what runs and announced itself (absent: always ready). */
  readonly announcedYet?: boolean;
}

const proxyMain = fileURLToPath(new URL('../sidecar/proxy/main.js', import.meta.url));

/** The mesh part of a DesiredState (absent in states stored before the mesh existed). */
export function meshConfigOf(desired: DesiredState | undefined): MeshConfig {
  return desired?.mesh ?? { accessLog: true };
}

/** Services whose 127.0.0.1:port the gateway serves (so the node agent's TCP forwarder must not). */
export function meshServedServices(desired: DesiredState | undefined): Set<string> {
  return new Set((desired?.services ?? []).filter((s) => s.port !== undefined && s.template.sidecars.some((p) => p.name === PROXY_SIDECAR_NAME)).map((s) => s.name));
}

/** `orders.v2` (a variant's deployment) → orders. */
const serviceOf = (deployment: string): string => deployment.split('.')[0];

/** How long the proxies hold a request for a service at zero: set when any of its deployments may scale to zero. */
function activationOf(desired: DesiredState, service: string): { activation?: { timeoutMs: number } } {
  const zeroable = desired.services.filter((d) => serviceOf(d.name) === service && d.scale?.min === 0);
  if (zeroable.length === 0) return {};
  return { activation: { timeoutMs: Math.max(...zeroable.map((d) => d.scale!.activationTimeoutSeconds ?? DEFAULT_ACTIVATION_TIMEOUT_S)) * 1000 } };
}

const DEFAULT_ACTIVATION_TIMEOUT_S = 30;

/** The gateway's instance spec, or undefined when no service is meshed and there is no ingress. */
export function gatewayInstance(desired: DesiredState | undefined, opts: { node: string; nodeIndex: number; slot: number; stateDir: string; logDir: string; credentialEnv?: Record<string, string> }): InstanceSpec | undefined {
  if (!desired) return undefined;
  if (meshServedServices(desired).size === 0 && !meshConfigOf(desired).ingress) return undefined;
  const host = `127.${opts.nodeIndex}.${opts.slot}.1`;
  const env = {
    ...PROXY_ENV,
    BERTH_APP: desired.app,
    BERTH_PROXY_MODE: 'gateway',
    BERTH_STATE_DIR: opts.stateDir,
    BERTH_INSTANCE: GATEWAY_ID,
    BERTH_SERVICE: GATEWAY_ID,
    BERTH_NODE: opts.node,
    HOST: host,
    BERTH_PROXY_ADMIN_PORT: String(meshPorts(0).admin),
    ...opts.credentialEnv,
  };
  return {
    id: GATEWAY_ID,
    app: desired.app,
    service: GATEWAY_ID,
    revision: 'gateway-1',
    node: opts.node,
    host,
    main: { name: PROXY_SIDECAR_NAME, argv: [process.execPath, ...PROXY_NODE_FLAGS, proxyMain], cwd: opts.stateDir, env },
    sidecars: [],
    probes: {},
    restart: { policy: 'always', initialSeconds: 0.2, maxSeconds: 5, resetAfterSeconds: 30 },
    stopGracePeriodSeconds: 5,
    logDir: opts.logDir,
  };
}

/**
 * Heartbeats on the watch stream (BERTH_MESH_HEARTBEAT_MS, for tests): an `event: heartbeat` whose
 * data says the interval; a proxy that hears nothing for a few intervals reconnects.
 */
const HEARTBEAT_MS = Math.max(50, Number(process.env.BERTH_MESH_HEARTBEAT_MS ?? MESH_HEARTBEAT_MS) || MESH_HEARTBEAT_MS);
const HEARTBEAT = `event: heartbeat\ndata: {"intervalMs":${HEARTBEAT_MS}}\n\n`;

interface Watcher {
  proxy: string;
  res: http.ServerResponse;
}

export class MeshFeed {
  private snapshot: MeshSnapshot | undefined;
  private key = '';
  private lastVersion = 0;
  /** The version last sent to every watcher. */
  private broadcastVersion = 0;
  private readonly watchers = new Set<Watcher>();
  private readonly acks = new Map<string, number>();
  private readonly samples = new Map<string, { at: number; series: MeshStatsSeries[] }>();
  private timer: NodeJS.Timeout | undefined;
  private readonly beat: NodeJS.Timeout;
  /** Adds what is not in the desired state to the snapshot's config (on-demand recordings). */
  configOverlay: ((c: MeshConfig) => MeshConfig) | undefined;

  /** Whether snapshots may be sent: the control plane has adopted what runs (ControlPlane.announcedYet). */
  announced(): boolean {
    return this.plane.announcedYet !== false;
  }

  constructor(private readonly plane: MeshPlane) {
    plane.onChange(() => this.schedule());
    plane.attachMesh(() => this.status().synced);
    this.beat = setInterval(() => {
      for (const w of this.watchers) w.res.write(HEARTBEAT);
    }, HEARTBEAT_MS);
    this.beat.unref();
  }

  /** The current snapshot, recomputed when desired or observed state changed. */
  current(): MeshSnapshot {
    const world = this.plane.world;
    const desired = world.desired;
    const down = world.down;
    const meshed = meshServedServices(desired);
    // Ready instances by service (a variant's join its service): one pass over the live instances.
    const ready = new Map<string, { id: string; host: string; variant: string }[]>();
    const leaving: string[] = [];
    if (!down) {
      for (const r of world.liveInstances()) {
        if (!meshed.has(serviceOf(r.service))) continue;
        // Withdrawn but not stopped yet, and it was serving: proxies with an older snapshot still send it requests.
        if (r.phase === 'terminating' && world.observedOf(r)?.ready) leaving.push(r.id);
        if (!world.isReady(r)) continue;
        const list = ready.get(serviceOf(r.service)) ?? [];
        list.push({ id: r.id, host: r.host, variant: endpointVariant(world, r) });
        ready.set(serviceOf(r.service), list);
      }
    }
    // One entry per service; the instances of its variants (deployments `<service>.<variant>`) join it.
    const services = down
      ? []
      : (desired?.services ?? [])
          .filter((s) => meshed.has(s.name) && !s.name.includes('.'))
          .map((s) => ({
            name: s.name,
            port: s.port!,
            endpoints: (ready.get(s.name) ?? [])
              .map((r) => ({ id: r.id, host: r.host, port: s.port!, variant: r.variant }))
              .sort((a, b) => (a.id < b.id ? -1 : 1)),
            ...activationOf(desired!, s.name),
          }));
    // A blue-green release's preview (Argo previewService): its own listener on previewPort, the new revision only.
    if (!down) {
      for (const p of previewServices(world)) {
        services.push({
          name: p.name,
          port: p.port,
          endpoints: (ready.get(p.service) ?? []).filter((r) => r.variant === CANARY_VARIANT).map((r) => ({ id: r.id, host: r.host, port: p.servicePort, variant: r.variant })).sort((a, b) => (a.id < b.id ? -1 : 1)),
        });
      }
    }
    const body = { app: desired?.app ?? '', services, config: this.configOverlay ? this.configOverlay(releaseMeshConfig(world, meshConfigOf(desired))) : releaseMeshConfig(world, meshConfigOf(desired)), ...(leaving.length > 0 ? { leaving: leaving.sort() } : {}) };
    const key = canonicalJson(body);
    if (!this.snapshot || key !== this.key) {
      this.key = key;
      this.lastVersion = Math.max(this.lastVersion + 1, Date.now());
      this.snapshot = { version: this.lastVersion, ...body };
    }
    return this.snapshot;
  }

  /**
   * Proxies that must hold the current snapshot: the gateway, the sidecar of every ready meshed instance,
   * and every proxy watching (an unready instance's sidecar routes its app's outbound calls too).
   */
  status(): MeshStatus {
    const snap = this.current();
    const must = new Set<string>();
    for (const s of snap.services) for (const e of s.endpoints) must.add(e.id);
    if (snap.services.length > 0 || snap.config.ingress) must.add(GATEWAY_ID);
    for (const w of this.watchers) if (w.proxy !== 'anonymous') must.add(w.proxy);
    const pending = [...must].filter((id) => (this.acks.get(id) ?? 0) < snap.version).sort();
    return { version: snap.version, synced: pending.length === 0, pending };
  }

  /**
   * `berth top`: reads every registered instance's proxy counters (admin /mesh/stats) and returns,
   * per service and variant, what its inbound proxies saw since the previous call.
   */
  async top(): Promise<{ windowSeconds: number | null; rows: MeshTopRow[] }> {
    const snap = this.current();
    const targets = snap.services.flatMap((s) => s.endpoints.map((e) => ({ id: e.id, service: s.name, variant: e.variant, url: `http://${e.host}:${meshPorts(s.port).admin}/mesh/stats` })));
    const now = performance.now();
    const reads = await Promise.all(targets.map(async (t) => ({ ...t, series: await fetchStats(t.url) })));
    const acc = new Map<string, MeshTopRow & { count: number; errors: number; buckets: number[] }>();
    let windowSum = 0;
    let windows = 0;
    for (const r of reads) {
      if (!r.series) continue;
      const key = `${r.service}\u0000${r.variant}`;
      let row = acc.get(key);
      if (!row) acc.set(key, (row = { service: r.service, variant: r.variant, rps: 0, p50Ms: null, p99Ms: null, errorPct: 0, instances: 0, count: 0, errors: 0, buckets: STATS_BUCKETS.map(() => 0) }));
      row.instances++;
      const prev = this.samples.get(r.id);
      this.samples.set(r.id, { at: now, series: r.series });
      if (!prev) continue;
      windowSum += (now - prev.at) / 1000;
      windows++;
      for (const s of r.series) {
        if (s.direction !== 'inbound') continue;
        const before = prev.series.find((p) => p.direction === s.direction && p.destination === s.destination && p.variant === s.variant);
        row.count += s.count - (before?.count ?? 0);
        row.errors += s.errors - (before?.errors ?? 0);
        s.buckets.forEach((b, i) => (row.buckets[i] += b - (before?.buckets[i] ?? 0)));
      }
    }
    for (const id of this.samples.keys()) if (!targets.some((t) => t.id === id)) this.samples.delete(id);
    // Every meshed deployment has a row, also one with no ready instance (e.g. scaled to zero).
    for (const d of this.plane.status().services) {
      // Same key as the endpoints' (`default` for the service's own instances), so a deployment's
      // replicas land on the row that counts its instances and requests.
      const service = serviceOf(d.name);
      const variant = variantOf(d.name);
      if (!snap.services.some((s) => s.name === service)) continue;
      const key = `${service}\u0000${variant}`;
      let row = acc.get(key);
      if (!row) acc.set(key, (row = { service, variant, rps: 0, p50Ms: null, p99Ms: null, errorPct: 0, instances: 0, count: 0, errors: 0, buckets: STATS_BUCKETS.map(() => 0) }));
      row.replicas = d.replicas;
      if (d.autoscale) {
        row.desiredReplicas = d.autoscale.desired;
        row.scaleReason = d.autoscale.reason;
      }
    }
    const windowSeconds = windows > 0 ? windowSum / windows : null;
    const rows = [...acc.values()]
      .map(({ count, errors, buckets, ...row }) => ({
        ...row,
        rps: windowSeconds ? Math.round((count / windowSeconds) * 10) / 10 : 0,
        p50Ms: quantileMs(buckets, count, 0.5),
        p99Ms: quantileMs(buckets, count, 0.99),
        errorPct: count > 0 ? Math.round((errors / count) * 1000) / 10 : 0,
      }))
      .sort((a, b) => (a.service === b.service ? (a.variant < b.variant ? -1 : 1) : a.service < b.service ? -1 : 1));
    return { windowSeconds, rows };
  }

  /** A proxy holds a request for `service`, which has no endpoint: start its deployments that are at zero. */
  activate(service: string, proxy: string): MeshActivation {
    return { service, started: this.plane.activate(service, `request held by ${proxy}`) };
  }

  ack(proxy: string, version: number): void {
    if ((this.acks.get(proxy) ?? 0) >= version) return;
    this.acks.set(proxy, version);
    this.plane.meshAcked();
  }

  watch(proxy: string, req: http.IncomingMessage, res: http.ServerResponse): void {
    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', connection: 'keep-alive' });
    const w: Watcher = { proxy, res };
    this.watchers.add(w);
    this.send(w, this.current());
    // Says the interval at once: the proxy reconnects when heartbeats stop (a hung control plane).
    res.write(HEARTBEAT);
    req.on('close', () => this.watchers.delete(w));
  }

  close(): void {
    clearInterval(this.beat);
    if (this.timer) clearTimeout(this.timer);
    for (const w of this.watchers) w.res.end();
    this.watchers.clear();
  }

  private send(w: Watcher, snap: MeshSnapshot): void {
    w.res.write(`event: snapshot\ndata: ${JSON.stringify(snap)}\n\n`);
  }

  /** Something the overlay reads changed: publish a new snapshot. */
  poke(): void {
    this.schedule();
  }

  /** Resolves once every proxy acknowledged the current snapshot, or after `timeoutMs`. */
  async synced(timeoutMs: number): Promise<void> {
    const end = Date.now() + timeoutMs;
    while (!this.status().synced && Date.now() < end) await new Promise((r) => setTimeout(r, 50));
  }

  private schedule(): void {
    if (this.timer) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      // Compared with what was broadcast, not with the last computation: current() may have been called in between (status, top).
      const snap = this.current();
      if (snap.version === this.broadcastVersion) return;
      this.broadcastVersion = snap.version;
      for (const w of this.watchers) this.send(w, snap);
    }, 5);
  }
}

function fetchStats(url: string): Promise<MeshStatsSeries[] | undefined> {
  return new Promise((resolve) => {
    const req = http.get(url, { agent: false, timeout: 1000 }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (body += d));
      res.on('end', () => {
        try {
          resolve(JSON.parse(body) as MeshStatsSeries[]);
        } catch {
          resolve(undefined);
        }
      });
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(undefined));
  });
}

/** A quantile from cumulative histogram buckets, interpolated linearly inside its bucket (as Prometheus' histogram_quantile). */
export function quantileMs(buckets: number[], count: number, q: number): number | null {
  if (count <= 0) return null;
  const target = q * count;
  let lower = 0;
  let cumBefore = 0;
  for (let i = 0; i < buckets.length; i++) {
    if (buckets[i] >= target) {
      const inBucket = buckets[i] - cumBefore;
      const frac = inBucket > 0 ? (target - cumBefore) / inBucket : 1;
      return Math.round((lower + (STATS_BUCKETS[i] - lower) * frac) * 1000 * 100) / 100;
    }
    lower = STATS_BUCKETS[i];
    cumBefore = buckets[i];
  }
  return STATS_BUCKETS[STATS_BUCKETS.length - 1] * 1000;
}

/** A caller limited to one proxy id (a sidecar credential): anything for another proxy gets 403 with `forbid(what)`. */
export interface MeshScope {
  proxy: string;
  forbid: (what: string) => string;
}

function forbidden(res: http.ServerResponse, message: string): true {
  const text = JSON.stringify({ error: message });
  res.writeHead(403, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) }).end(text);
  return true;
}

/** Serves /api/v1/mesh/*; returns false for other paths. */
export async function handleMeshApi(feed: MeshFeed, req: http.IncomingMessage, res: http.ServerResponse, url: URL, scope?: MeshScope): Promise<boolean> {
  const method = req.method ?? 'GET';
  if (method === 'GET' && url.pathname === '/api/v1/mesh/watch') {
    const proxy = url.searchParams.get('proxy') ?? 'anonymous';
    if (scope && proxy !== scope.proxy) return forbidden(res, scope.forbid(`the snapshot watch of proxy ${proxy}`));
    if (!feed.announced()) {
      // Not yet: a snapshot now would list no ready endpoint; the proxy keeps its own and dials again.
      const text = JSON.stringify({ error: 'the control plane is starting: snapshots follow once it has adopted the running instances' });
      res.writeHead(503, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text), 'retry-after': '1' }).end(text);
      return true;
    }
    feed.watch(proxy, req, res);
    return true;
  }
  if (method === 'GET' && url.pathname === '/api/v1/mesh/top') {
    const text = JSON.stringify(await feed.top());
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
    res.end(text);
    return true;
  }
  if (method === 'GET' && url.pathname === '/api/v1/mesh/status') {
    const text = JSON.stringify(feed.status());
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
    res.end(text);
    return true;
  }
  if (method === 'POST' && url.pathname === '/api/v1/mesh/activate') {
    const body = await readSmallJson(req);
    const service = (body as { service?: unknown } | undefined)?.service;
    const proxy = (body as { proxy?: unknown } | undefined)?.proxy;
    if (typeof service !== 'string' || typeof proxy !== 'string') {
      res.writeHead(400, { 'content-type': 'application/json' }).end('{"error":"expected {\\"service\\": string, \\"proxy\\": string}"}');
      return true;
    }
    if (scope && proxy !== scope.proxy) return forbidden(res, scope.forbid(`an activation on behalf of proxy ${proxy}`));
    const text = JSON.stringify(feed.activate(service, proxy));
    res.writeHead(202, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
    res.end(text);
    return true;
  }
  if (method === 'POST' && url.pathname === '/api/v1/mesh/ack') {
    const body = (await readSmallJson(req)) as { proxy?: unknown; version?: unknown } | undefined;
    if (typeof body?.proxy !== 'string' || typeof body.version !== 'number') {
      res.writeHead(400, { 'content-type': 'application/json' }).end('{"error":"expected {\\"proxy\\": string, \\"version\\": number}"}');
      return true;
    }
    if (scope && body.proxy !== scope.proxy) return forbidden(res, scope.forbid(`an acknowledgement for proxy ${body.proxy}`));
    feed.ack(body.proxy, body.version);
    res.writeHead(204).end();
    return true;
  }
  return false;
}

/** A small JSON request body (proxies' acks and activations); undefined when it is not JSON or too big. */
async function readSmallJson(req: http.IncomingMessage): Promise<unknown> {
  let raw = '';
  for await (const c of req) {
    raw += (c as Buffer).toString();
    if (raw.length > 4096) return undefined;
  }
  try {
    return JSON.parse(raw) as unknown;
  } catch {
    return undefined;
  }
}
