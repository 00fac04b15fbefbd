// A small Prometheus registry for the control plane (text exposition format 0.0.4), served at
// GET /metrics and GET /api/v1/metrics. Counters, gauges (set, or read when rendered) and histograms
// with labels; no dependency, and an observation is a map lookup and a few additions.
// The series the control plane exposes (see reconciler.ts, api.ts, store-timing.ts):
//   berth_workqueue_depth{controller}                        keys waiting to be processed
//   berth_workqueue_adds_total{controller}                   keys queued (de-duplicated adds count once)
//   berth_workqueue_queue_duration_seconds{controller}       time a key waited before a worker took it
//   berth_workqueue_work_duration_seconds{controller}        time one reconcile took
//   berth_workqueue_retries_total{controller}                rate-limited retries after an error
//   berth_workqueue_longest_running_processor_seconds{controller}  age of the oldest reconcile in progress
//   berth_workqueue_active_workers{controller}               reconciles in progress
//   berth_controller_reconcile_total{controller,result}      result: success, requeue_after, error
//   berth_controller_reconcile_errors_total{controller}
//   berth_api_requests_total{method,route,code}              route: the route's template, not the raw path
//   berth_api_request_duration_seconds{method,route}
//   berth_store_write_duration_seconds{op}                   one store write (a SQLite statement or transaction)

export type Labels = Record<string, string>;

/** Seconds: from a fast store write (sub-millisecond) to a frozen node agent's timeout. */
export const DEFAULT_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

const NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

function escapeValue(v: string): string {
  return v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
}

function escapeHelp(v: string): string {
  return v.replace(/\\/g, '\\\\').replace(/\n/g, '\\n');
}

/** `{a="x",b="y"}` in the metric's label order (empty string for no labels). */
function labelText(names: readonly string[], labels: Labels, extra?: string): string {
  const parts = names.map((n) => `${n}="${escapeValue(labels[n] ?? '')}"`);
  if (extra) parts.push(extra);
  return parts.length ? `{${parts.join(',')}}` : '';
}

/** Go's strconv formatting of floats as Prometheus prints them (+Inf, -Inf, NaN). */
function num(v: number): string {
  if (Number.isNaN(v)) return 'NaN';
  if (v === Infinity) return '+Inf';
  if (v === -Infinity) return '-Inf';
  return String(v);
}

abstract class Metric {
  constructor(
    readonly name: string,
    readonly help: string,
    readonly labelNames: readonly string[],
  ) {
    if (!NAME.test(name)) throw new Error(`invalid metric name ${JSON.stringify(name)}`);
    for (const l of labelNames) if (!LABEL.test(l) || l.startsWith('__') || l === 'le') throw new Error(`invalid label name ${JSON.stringify(l)} on ${name}`);
  }

  protected key(labels: Labels): string {
    return this.labelNames.map((n) => labels[n] ?? '').join('\u0000');
  }

  abstract readonly type: 'counter' | 'gauge' | 'histogram';
  abstract samples(): string[];

  render(): string[] {
    return [`# HELP ${this.name} ${escapeHelp(this.help)}`, `# TYPE ${this.name} ${this.type}`, ...this.samples()];
  }
}

export class Counter extends Metric {
  readonly type = 'counter';
  private readonly values = new Map<string, { labels: Labels; value: number }>();

  inc(labels: Labels = {}, by = 1): void {
    if (by < 0) throw new Error(`counter ${this.name} cannot decrease`);
    const k = this.key(labels);
    const v = this.values.get(k);
    if (v) v.value += by;
    else this.values.set(k, { labels: { ...labels }, value: by });
  }

  get(labels: Labels = {}): number {
    return this.values.get(this.key(labels))?.value ?? 0;
  }

  samples(): string[] {
    return [...this.values.values()].map((v) => `${this.name}${labelText(this.labelNames, v.labels)} ${num(v.value)}`);
  }
}

export class Gauge extends Metric {
  readonly type = 'gauge';
  private readonly values = new Map<string, { labels: Labels; value: number }>();
  private readonly collectors = new Set<() => Iterable<{ labels: Labels; value: number }>>();

  set(labels: Labels, value: number): void {
    this.values.set(this.key(labels), { labels: { ...labels }, value });
  }

  /** Values read at render time from state that lives elsewhere (e.g. a queue's depth); returns how to stop. */
  collectFrom(fn: () => Iterable<{ labels: Labels; value: number }>): () => void {
    this.collectors.add(fn);
    return () => this.collectors.delete(fn);
  }

  samples(): string[] {
    const all = new Map(this.values);
    for (const collect of this.collectors) for (const v of collect()) all.set(this.key(v.labels), v);
    return [...all.values()].map((v) => `${this.name}${labelText(this.labelNames, v.labels)} ${num(v.value)}`);
  }
}

export class Histogram extends Metric {
  readonly type = 'histogram';
  private readonly series = new Map<string, { labels: Labels; buckets: Float64Array; sum: number; count: number }>();

  constructor(name: string, help: string, labelNames: readonly string[], readonly buckets: readonly number[] = DEFAULT_BUCKETS) {
    super(name, help, labelNames);
    for (let i = 1; i < buckets.length; i++) if (!(buckets[i] > buckets[i - 1])) throw new Error(`buckets of ${name} must increase`);
  }

  observe(labels: Labels, value: number): void {
    const k = this.key(labels);
    let s = this.series.get(k);
    if (!s) this.series.set(k, (s = { labels: { ...labels }, buckets: new Float64Array(this.buckets.length), sum: 0, count: 0 }));
    for (let i = 0; i < this.buckets.length; i++) if (value <= this.buckets[i]) s.buckets[i]++;
    s.sum += value;
    s.count++;
  }

  count(labels: Labels = {}): number {
    return this.series.get(this.key(labels))?.count ?? 0;
  }

  samples(): string[] {
    const out: string[] = [];
    for (const s of this.series.values()) {
      this.buckets.forEach((le, i) => out.push(`${this.name}_bucket${labelText(this.labelNames, s.labels, `le="${num(le)}"`)} ${s.buckets[i]}`));
      out.push(`${this.name}_bucket${labelText(this.labelNames, s.labels, 'le="+Inf"')} ${s.count}`);
      out.push(`${this.name}_sum${labelText(this.labelNames, s.labels)} ${num(s.sum)}`, `${this.name}_count${labelText(this.labelNames, s.labels)} ${s.count}`);
    }
    return out;
  }
}

export class MetricsRegistry {
  private readonly metrics = new Map<string, Metric>();

  private add<M extends Metric>(m: M): M {
    const existing = this.metrics.get(m.name);
    // The same metric asked for twice (e.g. by two work queues in one process) is shared, not duplicated.
    if (existing) {
      if (existing.type !== m.type || existing.labelNames.join() !== m.labelNames.join()) throw new Error(`metric ${m.name} is already registered with another type or labels`);
      return existing as M;
    }
    this.metrics.set(m.name, m);
    return m;
  }

  counter(name: string, help: string, labelNames: readonly string[] = []): Counter {
    return this.add(new Counter(name, help, labelNames));
  }

  gauge(name: string, help: string, labelNames: readonly string[] = []): Gauge {
    return this.add(new Gauge(name, help, labelNames));
  }

  histogram(name: string, help: string, labelNames: readonly string[] = [], buckets?: readonly number[]): Histogram {
    return this.add(new Histogram(name, help, labelNames, buckets));
  }

  /** Prometheus text exposition format 0.0.4 (serve as `text/plain; version=0.0.4; charset=utf-8`). */
  render(): string {
    return [...this.metrics.values()].flatMap((m) => m.render()).join('\n') + '\n';
  }
}

export const PROMETHEUS_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';

/** The control plane's registry: one per process, as the control plane is. */
export const controlMetrics = new MetricsRegistry();
