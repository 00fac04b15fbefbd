// The autoscaler controller: for every service with `scale:`, every interval, read its metrics —
// resource use per instance from the node agents' heartbeats; request rate, concurrency and p99
// from the cumulative counters of each instance's mesh sidecar (GET /mesh/stats on its admin port),
// differenced over a short sliding window — decide with the HPA algorithm (autoscaler.ts), and
// record the replica count the deployment controller then rolls toward.
import type { DesiredService } from '../plan/index.js';
import { requestJson } from '../lib/http.js';
import { meshPorts, STATS_BUCKETS, type MeshStatsSeries } from '../lib/mesh-protocol.js';
import { decideScale, type MetricKind, type MetricReading, type Recommendation } from './autoscaler.js';
import { quantileMs } from './mesh-snapshots.js';
import type { InstanceRecord, NewEvent, Store } from './store.js';

export interface AutoscaleStatus {
  current: number;
  desired: number;
  reason: string;
}

export interface AutoscalingOptions {
  store: Store;
  event: (e: NewEvent) => void;
  /** Ready live instances of a deployment. */
  readyInstances: (service: string) => InstanceRecord[];
  /** App CPU/memory of an instance from the last heartbeat. */
  instanceUsage: (id: string) => { cpuMillis: number; memoryMiB: number } | undefined;
  onChange: (service: string) => void;
}

const META = (service: string) => `autoscale:${service}`;

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
  private readonly history = new Map<string, Recommendation[]>();
  readonly status = new Map<string, AutoscaleStatus>();
  private readonly warnedZero = new Set<string>();
  /** Recent counter samples per instance, oldest first (kept for a little more than the window). */
  private readonly samples = new Map<string, CounterSample[]>();

  constructor(
    private readonly opts: AutoscalingOptions,
    private readonly windowMs = 3000,
  ) {}

  /** The replica count the autoscaler set, if it has; else undefined (the spec's or `berth scale`'s count applies). */
  replicasFor(service: string): number | undefined {
    const v = this.opts.store.getMeta(META(service));
    return v === undefined || v === '' ? undefined : Number(v);
  }

  forget(service: string): void {
    this.opts.store.setMeta(META(service), '');
    this.history.delete(service);
    this.status.delete(service);
  }

  /** Reads each ready instance's inbound counters and differences them against the sample a window ago. */
  private async requestStats(spec: DesiredService, instances: InstanceRecord[]): Promise<WindowStats[]> {
    if (spec.port === undefined || !spec.template.sidecars.some((s) => s.name === 'berth-proxy')) return [];
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

  /** One evaluation for one service; returns whether the replica count changed. */
  async evaluate(spec: DesiredService, specReplicas: number): Promise<boolean> {
    const scale = spec.scale;
    if (!scale) return false;
    const min = scale.min === 0 ? 1 : scale.min;
    if (scale.min === 0 && !this.warnedZero.has(spec.name)) {
      this.warnedZero.add(spec.name);
      this.opts.event({ type: 'Warning', reason: 'ScaleToZeroUnavailable', message: `${spec.name}: scale to zero (min: 0) is not available in the local runtime yet; keeping at least 1 instance`, service: spec.name });
    }
    const current = Math.min(scale.max, Math.max(min, this.replicasFor(spec.name) ?? specReplicas));
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
      now: performance.now(),
      current,
      measured: ready.length,
      min,
      max: scale.max,
      metrics: readings,
      scaleUp: scale.behavior.scaleUp,
      scaleDown: scale.behavior.scaleDown,
      history: this.history.get(spec.name) ?? [],
    });
    this.history.set(spec.name, decision.history);
    this.status.set(spec.name, { current, desired: decision.desired, reason: decision.reason });
    const recorded = this.replicasFor(spec.name);
    if (decision.desired === current && recorded === current) return false;
    this.opts.store.setMeta(META(spec.name), String(decision.desired));
    if (decision.desired !== current) {
      this.opts.event({ type: 'Normal', reason: 'Scaled', message: `autoscaler: ${spec.name} ${current} → ${decision.desired} (${decision.reason})`, service: spec.name });
      this.opts.onChange(spec.name);
    }
    return decision.desired !== current;
  }
}
