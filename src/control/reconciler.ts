// The one shape every controller has (after controller-runtime): reconcile(key) re-reads desired
// and observed state, acts on the difference, and may ask to be called again later.
// The work queue is controller-runtime's: one queue per controller kind, so a slow controller (a
// frozen node agent, an autoscaler scrape) never holds up another; keys are de-duplicated; N workers
// per controller, but a key is never processed by two workers at once (a key added while it is being
// processed is processed again afterwards); of two requeue deadlines for a key the earliest wins; a
// failed key is retried with exponential back-off of its own (reset by a success), and the retries of
// one controller are rate-limited as a whole so a storm of failing keys cannot spin.
import { controlMetrics, type MetricsRegistry } from './metrics.js';

export interface ReconcileResult {
  requeueAfterMs?: number;
}

export interface Reconciler {
  readonly kind: string;
  reconcile(key: string): Promise<ReconcileResult | void>;
  /** Keys of this kind processed at once (default 4). 1 keeps the kind serial. */
  readonly workers?: number;
}

export interface WorkQueueOptions {
  /** Where the queue's metrics go (default: the control plane's registry). */
  metrics?: MetricsRegistry;
  /** Workers of a kind that does not say (default 4). */
  defaultWorkers?: number;
  /** First retry delay of a failed key; doubles with each consecutive failure (default 100 ms) … */
  retryBaseMs?: number;
  /** … up to this (default 5000 ms). */
  retryMaxMs?: number;
  /** Retries of one controller, all keys together: a token bucket of this rate per second (default 10) … */
  retryQps?: number;
  /** … and this burst (default 100). */
  retryBurst?: number;
}

interface Waiting {
  /** Monotonic ms at which the key is due. */
  at: number;
  timer: NodeJS.Timeout;
}

/** One controller's queue: FIFO of keys, the keys queued (dirty), being processed, and waiting for a deadline. */
class ControllerQueue {
  reconciler: Reconciler | undefined;
  readonly fifo: string[] = [];
  /** Keys queued → when they were queued (monotonic ms); a key here is processed once more. */
  readonly dirty = new Map<string, number>();
  /** Keys a worker holds → when it took them. */
  readonly processing = new Map<string, number>();
  readonly waiting = new Map<string, Waiting>();
  readonly failures = new Map<string, number>();
  tokens: number;
  tokensAt = performance.now();

  constructor(
    readonly kind: string,
    burst: number,
  ) {
    this.tokens = burst;
  }
}

export class WorkQueue {
  private readonly queues = new Map<string, ControllerQueue>();
  private readonly opts: Required<Omit<WorkQueueOptions, 'metrics'>>;
  private readonly m: ReturnType<typeof queueMetrics>;
  private readonly unsubscribe: (() => void)[] = [];
  private pumpScheduled = false;
  private stopped = false;

  constructor(
    private readonly log: (msg: string) => void,
    options: WorkQueueOptions = {},
  ) {
    this.opts = {
      defaultWorkers: options.defaultWorkers ?? 4,
      retryBaseMs: options.retryBaseMs ?? 100,
      retryMaxMs: options.retryMaxMs ?? 5000,
      retryQps: options.retryQps ?? 10,
      retryBurst: options.retryBurst ?? 100,
    };
    this.m = queueMetrics(options.metrics ?? controlMetrics);
    const each = (f: (q: ControllerQueue, now: number) => number) => () => {
      const now = performance.now();
      return [...this.queues.values()].map((q) => ({ labels: { controller: q.kind }, value: f(q, now) }));
    };
    this.unsubscribe.push(
      this.m.depth.collectFrom(each((q) => q.fifo.length)),
      this.m.active.collectFrom(each((q) => q.processing.size)),
      this.m.longest.collectFrom(each((q, now) => Math.max(0, ...[...q.processing.values()].map((t) => (now - t) / 1000)))),
    );
  }

  private queue(kind: string): ControllerQueue {
    let q = this.queues.get(kind);
    if (!q) this.queues.set(kind, (q = new ControllerQueue(kind, this.opts.retryBurst)));
    return q;
  }

  register(r: Reconciler): void {
    if (r.workers !== undefined && !(Number.isInteger(r.workers) && r.workers >= 1)) throw new Error(`workers of ${r.kind} must be an integer ≥ 1`);
    this.queue(r.kind).reconciler = r;
    this.schedulePump();
  }

  /** Queues `kind/key` (no-op if already queued; if a worker holds it, it is processed again afterwards). */
  add(kind: string, key: string): void {
    if (this.stopped) return;
    const q = this.queue(kind);
    if (q.dirty.has(key)) return;
    q.dirty.set(key, performance.now());
    this.m.adds.inc({ controller: kind });
    if (!q.processing.has(key)) q.fifo.push(key);
    this.schedulePump();
  }

  /** Queues `kind/key` after `ms`; a pending later deadline for the key is brought forward, an earlier one kept. */
  addAfter(kind: string, key: string, ms: number): void {
    if (this.stopped) return;
    if (!(ms > 0)) return this.add(kind, key);
    const q = this.queue(kind);
    const at = performance.now() + ms;
    const pending = q.waiting.get(key);
    if (pending && pending.at <= at) return;
    if (pending) clearTimeout(pending.timer);
    const timer = setTimeout(() => {
      if (q.waiting.get(key)?.timer === timer) q.waiting.delete(key);
      this.add(kind, key);
    }, ms);
    timer.unref();
    q.waiting.set(key, { at, timer });
  }

  /** What a controller's queue holds now (for tests and diagnostics). */
  stats(kind: string): { queued: number; processing: number; waiting: number; failures: number } {
    const q = this.queues.get(kind);
    return { queued: q?.fifo.length ?? 0, processing: q?.processing.size ?? 0, waiting: q?.waiting.size ?? 0, failures: q?.failures.size ?? 0 };
  }

  stop(): void {
    this.stopped = true;
    for (const q of this.queues.values()) {
      for (const w of q.waiting.values()) clearTimeout(w.timer);
      q.waiting.clear();
      q.fifo.length = 0;
      q.dirty.clear();
    }
    for (const off of this.unsubscribe.splice(0)) off();
  }

  /** Work starts on a later microtask, never inside add(): callers may add keys half-way through a change. */
  private schedulePump(): void {
    if (this.pumpScheduled || this.stopped) return;
    this.pumpScheduled = true;
    queueMicrotask(() => {
      this.pumpScheduled = false;
      for (const q of this.queues.values()) this.pump(q);
    });
  }

  private pump(q: ControllerQueue): void {
    const r = q.reconciler;
    if (!r) return;
    const workers = r.workers ?? this.opts.defaultWorkers;
    while (!this.stopped && q.processing.size < workers && q.fifo.length > 0) {
      const key = q.fifo.shift()!;
      const now = performance.now();
      const queuedAt = q.dirty.get(key) ?? now;
      q.dirty.delete(key);
      q.processing.set(key, now);
      this.m.queueLatency.observe({ controller: q.kind }, (now - queuedAt) / 1000);
      void this.process(q, r, key, now);
    }
  }

  private async process(q: ControllerQueue, r: Reconciler, key: string, started: number): Promise<void> {
    const controller = q.kind;
    try {
      const res = await r.reconcile(key);
      q.failures.delete(key);
      const again = res ? res.requeueAfterMs : undefined;
      this.m.reconciles.inc({ controller, result: again !== undefined ? 'requeue_after' : 'success' });
      if (again !== undefined) this.addAfter(controller, key, again);
    } catch (err) {
      const n = (q.failures.get(key) ?? 0) + 1;
      q.failures.set(key, n);
      this.m.reconciles.inc({ controller, result: 'error' });
      this.m.errors.inc({ controller });
      this.m.retries.inc({ controller });
      const delay = Math.max(Math.min(this.opts.retryMaxMs, this.opts.retryBaseMs * 2 ** Math.min(n - 1, 30)), this.reserveRetry(q));
      this.log(`reconcile ${controller}/${key} failed (retry ${n} in ${Math.round(delay)} ms): ${(err as Error).message}`);
      this.addAfter(controller, key, delay);
    } finally {
      this.m.workDuration.observe({ controller }, (performance.now() - started) / 1000);
      q.processing.delete(key);
      if (q.dirty.has(key) && !this.stopped) q.fifo.push(key);
      this.pump(q);
    }
  }

  /** Takes one retry from the controller's token bucket; returns how long the retry must wait for it (ms). */
  private reserveRetry(q: ControllerQueue): number {
    const now = performance.now();
    q.tokens = Math.min(this.opts.retryBurst, q.tokens + ((now - q.tokensAt) * this.opts.retryQps) / 1000);
    q.tokensAt = now;
    q.tokens -= 1;
    return q.tokens >= 0 ? 0 : (-q.tokens / this.opts.retryQps) * 1000;
  }
}

function queueMetrics(reg: MetricsRegistry) {
  const c = ['controller'];
  return {
    depth: reg.gauge('berth_workqueue_depth', 'Keys waiting in the controller queue.', c),
    active: reg.gauge('berth_workqueue_active_workers', 'Reconciles in progress.', c),
    longest: reg.gauge('berth_workqueue_longest_running_processor_seconds', 'How long the oldest reconcile in progress has been running.', c),
    adds: reg.counter('berth_workqueue_adds_total', 'Keys queued (an add of a key already queued is not counted).', c),
    retries: reg.counter('berth_workqueue_retries_total', 'Rate-limited retries of keys whose reconcile failed.', c),
    queueLatency: reg.histogram('berth_workqueue_queue_duration_seconds', 'How long a key waited in the queue before a worker took it.', c),
    workDuration: reg.histogram('berth_workqueue_work_duration_seconds', 'How long one reconcile took.', c),
    reconciles: reg.counter('berth_controller_reconcile_total', 'Reconciles by result (success, requeue_after, error).', ['controller', 'result']),
    errors: reg.counter('berth_controller_reconcile_errors_total', 'Reconciles that failed.', c),
  };
}
