// The autoscaler controller: for every service with `scale:`, every interval, read its metrics —
// resource use per instance from the node agents' heartbeats, request rate / concurrency / p99 from
// each instance's sidecar (GET /stats/inbound on its admin port) — decide with the HPA algorithm
// (autoscaler.ts), and record the replica count the deployment controller then rolls toward.
import type { DesiredService } from '../plan/index.js';
import { requestJson } from '../lib/http.js';
import { INBOUND_STATS_PATH, type InboundStats } from '../lib/load-stats.js';
import { decideScale, type MetricKind, type MetricReading, type Recommendation } from './autoscaler.js';
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

export class Autoscaling {
  private readonly history = new Map<string, Recommendation[]>();
  readonly status = new Map<string, AutoscaleStatus>();
  private readonly warnedZero = new Set<string>();

  constructor(private readonly opts: AutoscalingOptions) {}

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

  private adminPort(spec: DesiredService): number | undefined {
    const proxy = spec.template.sidecars.find((s) => s.name === 'berth-proxy');
    const port = Number(proxy?.env.BERTH_PROXY_ADMIN_PORT);
    return Number.isInteger(port) && port > 0 ? port : undefined;
  }

  private async requestStats(spec: DesiredService, instances: InstanceRecord[]): Promise<InboundStats[]> {
    const port = this.adminPort(spec);
    if (port === undefined) return [];
    const replies = await Promise.all(
      instances.map((r) => requestJson<InboundStats>({ host: r.host, port, timeoutMs: 500 }, 'GET', INBOUND_STATS_PATH).catch(() => undefined)),
    );
    return replies.filter((s): s is InboundStats => !!s && typeof s.rps === 'number');
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
        // Request-weighted mean of the instances' p99s: an approximation of the service's p99.
        const withData = stats.filter((s) => s.p99Ms !== null && s.requests > 0);
        const total = withData.reduce((a, s) => a + s.requests, 0);
        value = total ? withData.reduce((a, s) => a + s.p99Ms! * s.requests, 0) / total : undefined;
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
