// The autoscaler controller: for every service with `scale:`, every interval, read its metrics —
// resource use per instance from the node agents' heartbeats; request rate, concurrency and p99
// from the cumulative counters of each instance's mesh sidecar (GET /mesh/stats on its admin port),
// differenced over a short sliding window — decide with the HPA algorithm (autoscaler.ts), and
// record the replica count the deployment controller then rolls toward.
//
// Scale to zero (`min: 0`): a deployment whose inbound proxies accepted no request for `idleSeconds`
// (and have none in flight) goes to zero — the idle rule, not the metrics, decides that step. From
// zero, a proxy that holds a request for the service calls activate(), which sets one replica at
// once (no wait for the next evaluation); the snapshot that lists the new endpoint releases the request.
import type { DesiredService } from '../plan/index.js';
import { requestJson } from '../lib/http.js';
import { meshPorts, PROXY_SIDECAR_NAME, STATS_BUCKETS, type MeshActivity, type MeshStatsSeries } from '../lib/mesh-protocol.js';
import { decideScale, type MetricKind, type MetricReading, type Recommendation } from './autoscaler.js';
import { quantileMs } from './mesh-snapshots.js';
import type { InstanceRecord, NewEvent } from './store.js';

export interface AutoscaleStatus {
  current: number;
  desired: number;
  reason: string;
}

export interface AutoscalingOptions {
  /** Where the autoscaler keeps what must survive a restart (the store, through the read model). */
  meta: { get(key: string): string | undefined; set(key: string, value: string): void };
  event: (e: NewEvent) => void;
  /** Live instances of a deployment (any phase). */
  liveInstances: (service: string) => InstanceRecord[];
  /** Ready live instances of a deployment. */
  readyInstances: (service: string) => InstanceRecord[];
  /** App CPU/memory of an instance from the last heartbeat. */
  instanceUsage: (id: string) => { cpuMillis: number; memoryMiB: number } | undefined;
  onChange: (service: string) => void;
}

const META = (service: string) => `autoscale:${service}`;
/** The recommendations inside the stabilization windows (wall-clock ms): a restart keeps the windows. */
const HISTORY_META = (service: string) => `autoscale-history:${service}`;
/** When a request was last seen (wall-clock ms): a restart keeps the scale-to-zero idle clock. */
const ACTIVITY_META = (service: string) => `autoscale-activity:${service}`;
/** Since when a `min: 0` deployment has had no ready instance (wall-clock ms): its idle clock starts at its first ready one. */
const UNREADY_META = (service: string) => `autoscale-unready:${service}`;
const DEFAULT_IDLE_SECONDS = 60;

/** What one instance's inbound proxy saw over the window. */
interface WindowStats {
  seconds: number;
  requests: number;
  rps: number;
  /** Little's law: summed request durations per second = average requests in flight. */
  concurrency: number;
  buckets: number[];
}

interface CounterSample {
  at: number;
  count: number;
  sum: number;
  buckets: number[];
}

export class Autoscaling {
  readonly status = new Map<string, AutoscaleStatus>();
  /** Per instance: its inbound proxy's accepted-request counter at the last read. */
  private readonly activityCounts = new Map<string, number>();
  /** Recent counter samples per instance, oldest first (kept for a little more than the window). */
  private readonly samples = new Map<string, CounterSample[]>();

  constructor(
    private readonly opts: AutoscalingOptions,
    private readonly windowMs = 3000,
    /** Wall-clock ms: the stabilization windows and the idle clock are stored and outlive this process. */
    private readonly now: () => number = Date.now,
  ) {}

  /** The replica count the autoscaler set, if it has; else undefined (the spec's or `berth scale`'s count applies). */
  replicasFor(service: string): number | undefined {
    const v = this.opts.meta.get(META(service));
    return v === undefined || v === '' ? undefined : Number(v);
  }

  forget(service: string): void {
    this.opts.meta.set(META(service), '');
    this.setHistory(service, []);
    this.status.delete(service);
    this.setLastActivity(service, undefined);
    this.setUnreadySince(service, undefined);
  }

  private history(service: string): Recommendation[] {
    const v = this.opts.meta.get(HISTORY_META(service));
    if (!v) return [];
    try {
      return JSON.parse(v) as Recommendation[];
    } catch {
      return []; // a damaged entry only loses the stabilization window, which refills within it
    }
  }

  private setHistory(service: string, history: Recommendation[]): void {
    this.opts.meta.set(HISTORY_META(service), history.length ? JSON.stringify(history) : '');
  }

  private lastActivity(service: string): number | undefined {
    const v = this.opts.meta.get(ACTIVITY_META(service));
    return v ? Number(v) : undefined;
  }

  /** Since when a `min: 0` deployment has no ready instance (wall-clock ms), kept like the idle clock. */
  private unreadySince(service: string): number | undefined {
    const v = this.opts.meta.get(UNREADY_META(service));
    return v ? Number(v) : undefined;
  }

  private setUnreadySince(service: string, at: number | undefined): void {
    if (this.opts.meta.get(UNREADY_META(service)) === (at === undefined ? '' : String(at))) return;
    this.opts.meta.set(UNREADY_META(service), at === undefined ? '' : String(at));
  }

  private setLastActivity(service: string, at: number | undefined): void {
    this.opts.meta.set(ACTIVITY_META(service), at === undefined ? '' : String(at));
  }

  /** Reads each ready instance's inbound counters and differences them against the sample a window ago. */
  private async requestStats(spec: DesiredService, instances: InstanceRecord[]): Promise<WindowStats[]> {
    if (spec.port === undefined || !spec.template.sidecars.some((s) => s.name === PROXY_SIDECAR_NAME)) return [];
    const admin = meshPorts(spec.port).admin;
    const now = performance.now();
    const out: WindowStats[] = [];
    await Promise.all(
      instances.map(async (r) => {
        const series = await requestJson<MeshStatsSeries[]>({ host: r.host, port: admin, timeoutMs: 500 }, 'GET', '/mesh/stats').catch(() => undefined);
        if (!Array.isArray(series)) return;
        const cur: CounterSample = { at: now, count: 0, sum: 0, buckets: STATS_BUCKETS.map(() => 0) };
        for (const s of series) {
          if (s.direction !== 'inbound') continue;
          cur.count += s.count;
          cur.sum += s.sum;
          s.buckets.forEach((b, i) => (cur.buckets[i] += b));
        }
        const list = (this.samples.get(r.id) ?? []).filter((x) => now - x.at <= this.windowMs * 2);
        list.push(cur);
        this.samples.set(r.id, list);
        // The oldest sample still inside the window (or the oldest at all, early on).
        const base = list.find((x) => now - x.at <= this.windowMs) ?? list[0];
        const seconds = (now - base.at) / 1000;
        if (base === cur || seconds <= 0) return;
        const requests = cur.count - base.count;
        out.push({ seconds, requests, rps: requests / seconds, concurrency: (cur.sum - base.sum) / seconds, buckets: cur.buckets.map((b, i) => b - base.buckets[i]) });
      }),
    );
    for (const id of this.samples.keys()) if (!instances.some((r) => r.id === id) && id.startsWith(`${spec.name}-`)) this.samples.delete(id);
    return out;
  }

  /**
   * A request for a service is held by a proxy: each of its deployments (the service and its variants,
   * with the replicas now in force) that may scale to zero and is at zero gets one replica now.
   * Returns the deployments started.
   */
  activate(deployments: { spec: DesiredService; replicas: number }[], why: string): string[] {
    const started: string[] = [];
    const now = this.now();
    for (const { spec: d, replicas } of deployments) {
      if (d.scale?.min !== 0) continue;
      // Held requests re-ask every second: each call restarts the idle clock, so a slow start is not mistaken for idleness.
      this.setLastActivity(d.name, now);
      if (replicas !== 0) continue;
      this.opts.meta.set(META(d.name), '1');
      this.setHistory(d.name, []);
      this.status.set(d.name, { current: 0, desired: 1, reason: `activated from zero (${why})` });
      this.opts.event({ type: 'Normal', reason: 'ScaledFromZero', message: `autoscaler: ${d.name} 0 → 1 (${why})`, service: d.name });
      this.opts.onChange(d.name);
      started.push(d.name);
    }
    return started;
  }

  /** Whether any instance of the deployment accepted a request since the last read, or has one in flight. */
  private async sawActivity(spec: DesiredService): Promise<boolean> {
    if (spec.port === undefined) return false;
    const admin = meshPorts(spec.port).admin;
    const instances = this.opts.liveInstances(spec.name);
    const reads = await Promise.all(
      instances.map(async (r) => ({ id: r.id, a: await requestJson<MeshActivity>({ host: r.host, port: admin, timeoutMs: 500 }, 'GET', '/mesh/activity').catch(() => undefined) })),
    );
    let active = false;
    for (const { id, a } of reads) {
      if (typeof a?.inbound !== 'number') continue;
      const before = this.activityCounts.get(id);
      this.activityCounts.set(id, a.inbound);
      if (a.inflight > 0 || (before === undefined ? a.inbound > 0 : a.inbound !== before)) active = true;
    }
    for (const id of this.activityCounts.keys()) if (id.startsWith(`${spec.name}-`) && !instances.some((r) => r.id === id)) this.activityCounts.delete(id);
    return active;
  }

  /** The idle rule of `min: 0`: true when the deployment just went to zero (or is there). */
  private async idleToZero(spec: DesiredService, current: number): Promise<boolean> {
    const now = this.now();
    if (current === 0) {
      this.setUnreadySince(spec.name, undefined);
      this.status.set(spec.name, { current: 0, desired: 0, reason: `scaled to zero (idleSeconds ${spec.scale!.idleSeconds ?? DEFAULT_IDLE_SECONDS}): the next request starts an instance` });
      return true;
    }
    const idleSeconds = spec.scale!.idleSeconds ?? DEFAULT_IDLE_SECONDS;
    // No request can be served before an instance is ready: while a deployment starts (just applied, or
    // activated from zero) that is not idleness, so the idle clock starts with its first ready instance —
    // but one that never gets ready still goes to zero, idleSeconds later than that.
    const ready = this.opts.readyInstances(spec.name).length > 0;
    const unreadySince = this.unreadySince(spec.name);
    let clockFloor: number | undefined;
    if (ready && unreadySince !== undefined) {
      this.setUnreadySince(spec.name, undefined);
      clockFloor = now;
    } else if (!ready) {
      if (unreadySince === undefined) this.setUnreadySince(spec.name, now);
      clockFloor = Math.min(now, (unreadySince ?? now) + idleSeconds * 1000);
    }
    if ((await this.sawActivity(spec)) || this.lastActivity(spec.name) === undefined) this.setLastActivity(spec.name, now);
    if (clockFloor !== undefined) this.setLastActivity(spec.name, Math.max(this.lastActivity(spec.name)!, clockFloor));
    const idleFor = (now - this.lastActivity(spec.name)!) / 1000;
    if (idleFor < idleSeconds) return false;
    this.opts.meta.set(META(spec.name), '0');
    this.setHistory(spec.name, []);
    const reason = `no request for ${Math.round(idleFor)} s (idleSeconds ${idleSeconds})`;
    this.status.set(spec.name, { current, desired: 0, reason });
    this.opts.event({ type: 'Normal', reason: 'ScaledToZero', message: `autoscaler: ${spec.name} ${current} → 0 (${reason})`, service: spec.name });
    this.opts.onChange(spec.name);
    return true;
  }

  /** One evaluation for one service; returns whether the replica count changed. */
  async evaluate(spec: DesiredService, specReplicas: number): Promise<boolean> {
    const scale = spec.scale;
    if (!scale) return false;
    // The metrics never go below one instance; going to zero is the idle rule's step.
    const min = Math.max(1, scale.min);
    const recorded = this.replicasFor(spec.name);
    if (scale.min === 0) {
      const before = recorded ?? Math.min(scale.max, specReplicas);
      if (await this.idleToZero(spec, before)) return before !== 0;
    }
    const current = Math.min(scale.max, Math.max(min, recorded ?? specReplicas));
    const ready = this.opts.readyInstances(spec.name);
    const needsStats = scale.metrics.some((m) => 'rps' in m || 'concurrency' in m || 'p99Ms' in m);
    const stats = needsStats ? await this.requestStats(spec, ready) : [];
    const usage = ready.map((r) => this.opts.instanceUsage(r.id)).filter((u): u is { cpuMillis: number; memoryMiB: number } => !!u);
    const avg = (xs: number[]) => (xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : undefined);
    const readings: MetricReading[] = scale.metrics.map((m) => {
      const [kind, target] = Object.entries(m)[0] as [MetricKind, number];
      let value: number | undefined;
      if (kind === 'rps') value = stats.length ? stats.reduce((a, s) => a + s.rps, 0) / Math.max(1, ready.length) : undefined;
      else if (kind === 'concurrency') value = stats.length ? stats.reduce((a, s) => a + s.concurrency, 0) / Math.max(1, ready.length) : undefined;
      else if (kind === 'p99Ms') {
        // The service's p99 over the window: the instances' histograms summed, then the quantile.
        const buckets = STATS_BUCKETS.map((_, i) => stats.reduce((a, s) => a + s.buckets[i], 0));
        const total = stats.reduce((a, s) => a + s.requests, 0);
        value = total > 0 ? (quantileMs(buckets, total, 0.99) ?? undefined) : undefined;
      } else if (kind === 'cpuPercent') {
        const cpu = avg(usage.map((u) => u.cpuMillis));
        value = cpu !== undefined && spec.template.cpuMillis ? (cpu / spec.template.cpuMillis) * 100 : undefined;
      } else if (kind === 'memoryPercent') {
        const mem = avg(usage.map((u) => u.memoryMiB));
        value = mem !== undefined && spec.template.memoryMiB ? (mem / spec.template.memoryMiB) * 100 : undefined;
      }
      return { kind, target, value };
    });
    const decision = decideScale({
      now: this.now(),
      current,
      measured: ready.length,
      min,
      max: scale.max,
      metrics: readings,
      scaleUp: scale.behavior.scaleUp,
      scaleDown: scale.behavior.scaleDown,
      history: this.history(spec.name),
    });
    this.setHistory(spec.name, decision.history);
    this.status.set(spec.name, { current, desired: decision.desired, reason: decision.reason });
    if (decision.desired === current && recorded === current) return false;
    this.opts.meta.set(META(spec.name), String(decision.desired));
    if (decision.desired !== current) {
      this.opts.event({ type: 'Normal', reason: 'Scaled', message: `autoscaler: ${spec.name} ${current} → ${decision.desired} (${decision.reason})`, service: spec.name });
      this.opts.onChange(spec.name);
    }
    return decision.desired !== current;
  }
}
