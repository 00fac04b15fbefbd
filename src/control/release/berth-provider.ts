// The `berth` metric provider: no Prometheus needed. It reads the cumulative request counters the
// inbound proxy of every ready instance keeps (GET /mesh/stats on its admin port, MeshStatsSeries)
// at the start and at the end of a window, and gives, for the canary's endpoints and for stable's
// over that same window:
//   result = { canary: { requests, rps, errorRate, successRate, p50Ms, p90Ms, p99Ms }, stable: {…},
//              windowSeconds }
// Rates and percentiles are nil when a side served no request in the window (a condition on them is
// then an Error measurement: an unmeasured canary is never judged good).
import { requestJson } from '../../lib/http.js';
import { meshPorts, STATS_BUCKETS, type MeshStatsSeries } from '../../lib/mesh-protocol.js';
import { quantileMs } from '../mesh-snapshots.js';
import type { World } from '../world.js';
import type { MeasureFn } from './providers.js';
import { endpointVariant } from './state.js';

/** One endpoint's counters at one moment (series undefined: its proxy could not be read). */
export interface EndpointSample {
  id: string;
  /** The mesh's variant label of the endpoint (`default` for the service's own instances). */
  variant: string;
  series: MeshStatsSeries[] | undefined;
}

/** Where the berth provider reads counters: every ready endpoint of a service (its variants' too). */
export interface StatsSource {
  sample(service: string, signal: AbortSignal): Promise<EndpointSample[]>;
}

export interface SideStats {
  requests: number;
  rps: number;
  errorRate: number | null;
  successRate: number | null;
  p50Ms: number | null;
  p90Ms: number | null;
  p99Ms: number | null;
}

export interface BerthResult {
  canary: SideStats;
  stable: SideStats;
  windowSeconds: number;
}

const DEFAULT_WINDOW_MS = 10_000;

interface Totals {
  count: number;
  errors: number;
  buckets: number[];
}

function inbound(series: MeshStatsSeries[]): Totals {
  const t: Totals = { count: 0, errors: 0, buckets: STATS_BUCKETS.map(() => 0) };
  for (const s of series) {
    if (s.direction !== 'inbound') continue;
    t.count += s.count;
    t.errors += s.errors;
    s.buckets.forEach((b, i) => (t.buckets[i] += b));
  }
  return t;
}

function side(totals: Totals, seconds: number): SideStats {
  const n = totals.count;
  const rate = (x: number) => (n > 0 ? Math.round((x / n) * 1e6) / 1e6 : null);
  return {
    requests: n,
    rps: seconds > 0 ? Math.round((n / seconds) * 100) / 100 : 0,
    errorRate: rate(totals.errors),
    successRate: rate(n - totals.errors),
    p50Ms: quantileMs(totals.buckets, n, 0.5),
    p90Ms: quantileMs(totals.buckets, n, 0.9),
    p99Ms: quantileMs(totals.buckets, n, 0.99),
  };
}

/**
 * Canary and stable over the window between two samples. Only endpoints read in both count (one
 * that appeared or vanished meanwhile has no window of its own); a counter that went down means its
 * proxy restarted, and its later value is what it served since.
 */
export function windowStats(before: EndpointSample[], after: EndpointSample[], seconds: number, canary: string, stable: string): BerthResult {
  const prev = new Map(before.filter((e) => e.series).map((e) => [e.id, inbound(e.series!)]));
  const acc: Record<'canary' | 'stable', Totals> = { canary: { count: 0, errors: 0, buckets: STATS_BUCKETS.map(() => 0) }, stable: { count: 0, errors: 0, buckets: STATS_BUCKETS.map(() => 0) } };
  for (const e of after) {
    const which = e.variant === canary ? 'canary' : e.variant === stable ? 'stable' : undefined;
    const start = prev.get(e.id);
    if (!which || !e.series || !start) continue;
    const end = inbound(e.series);
    const reset = end.count < start.count;
    const t = acc[which];
    t.count += reset ? end.count : end.count - start.count;
    t.errors += reset ? end.errors : end.errors - start.errors;
    end.buckets.forEach((b, i) => (t.buckets[i] += reset ? b : b - start.buckets[i]));
  }
  return { canary: side(acc.canary, seconds), stable: side(acc.stable, seconds), windowSeconds: Math.round(seconds * 1000) / 1000 };
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) return reject(new Error('measurement stopped'));
    const t = setTimeout(() => {
      signal.removeEventListener('abort', stop);
      resolve();
    }, ms);
    const stop = () => {
      clearTimeout(t);
      reject(new Error('measurement stopped'));
    };
    signal.addEventListener('abort', stop, { once: true });
  });
}

/** Samples kept between a metric's measurements (one per metric of a run; the oldest go first). */
const MAX_KEPT_SAMPLES = 1000;

/**
 * The berth provider over a stats source; `now` is injectable for tests of the window arithmetic.
 * A measurement covers the last `window`: it reads the counters, waits `window`, reads them again.
 * When the same metric (ctx.key) was measured about one window ago, that reading is the start and
 * nothing is waited — so with the default window (the metric's interval) measurements keep Argo's
 * cadence, each covering the time since the one before.
 */
export function berthProvider(source: StatsSource, now: () => number = () => performance.now()): MeasureFn {
  const kept = new Map<string, { at: number; samples: EndpointSample[] }>();
  return async (metric, ctx) => {
    if (!metric.provider.berth) throw new Error('not a berth metric');
    const canary = ctx.canary;
    const stable = ctx.stable ?? 'default';
    if (canary === undefined) throw new Error('no canary to measure (the analysis context names none)');
    const windowMs = metric.provider.berth.window ?? metric.interval ?? DEFAULT_WINDOW_MS;
    const previous = ctx.key !== undefined ? kept.get(ctx.key) : undefined;
    let t0: number;
    let before: EndpointSample[];
    if (previous && now() - previous.at >= windowMs / 2 && now() - previous.at <= windowMs * 2) {
      t0 = previous.at;
      before = previous.samples;
    } else {
      t0 = now();
      before = await source.sample(ctx.service, ctx.signal);
      if (!before.some((e) => e.variant === canary && e.series)) throw new Error(`no ready canary endpoint (variant ${canary}) of ${ctx.service} could be read`);
      await sleep(windowMs, ctx.signal);
    }
    const t1 = now();
    const after = await source.sample(ctx.service, ctx.signal);
    if (ctx.key !== undefined) {
      kept.delete(ctx.key);
      kept.set(ctx.key, { at: t1, samples: after });
      if (kept.size > MAX_KEPT_SAMPLES) kept.delete(kept.keys().next().value!);
    }
    if (!after.some((e) => e.variant === canary && e.series)) throw new Error(`no ready canary endpoint (variant ${canary}) of ${ctx.service} could be read`);
    return windowStats(before, after, (t1 - t0) / 1000, canary, stable);
  };
}

/**
 * The control plane's stats source: the ready instances of the service and of its variants'
 * deployments (`<service>.<variant>`), each read on its proxy's admin port.
 */
export function worldStatsSource(world: World, timeoutMs = 1000): StatsSource {
  return {
    async sample(service, signal) {
      const deployments = (world.desired?.services ?? []).filter((s) => s.name === service || s.name.startsWith(`${service}.`));
      const targets = deployments.flatMap((d) =>
        d.port === undefined ? [] : world.readyOf(d.name).map((r) => ({ id: r.id, host: r.host, port: meshPorts(d.port!).admin, variant: endpointVariant(world, r) })),
      );
      if (signal.aborted) throw new Error('measurement stopped');
      return Promise.all(
        targets.map(async (t) => ({
          id: t.id,
          variant: t.variant,
          series: await requestJson<MeshStatsSeries[]>({ host: t.host, port: t.port, timeoutMs }, 'GET', '/mesh/stats')
            .then((s) => (Array.isArray(s) ? s : undefined))
            .catch(() => undefined),
        })),
      );
    },
  };
}
