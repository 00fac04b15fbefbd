// The one shape every controller has (after controller-runtime): reconcile(key) re-reads desired
// and observed state, acts on the difference, and may ask to be called again later. A single
// worker drains a de-duplicated queue, so reconcilers never race each other on the store.

export interface ReconcileResult {
  requeueAfterMs?: number;
}

export interface Reconciler {
  readonly kind: string;
  reconcile(key: string): Promise<ReconcileResult | void>;
}

export class WorkQueue {
  private readonly reconcilers = new Map<string, Reconciler>();
  private readonly pending = new Set<string>();
  private readonly timers = new Map<string, NodeJS.Timeout>();
  private readonly failures = new Map<string, number>();
  private running = false;
  private stopped = false;

  constructor(private readonly log: (msg: string) => void) {}

  register(r: Reconciler): void {
    this.reconcilers.set(r.kind, r);
  }

  /** Queues `kind/key` (no-op if already queued). */
  add(kind: string, key: string): void {
    if (this.stopped) return;
    this.pending.add(`${kind}\u0000${key}`);
    if (!this.running) queueMicrotask(() => void this.drain());
  }

  addAfter(kind: string, key: string, ms: number): void {
    const id = `${kind}\u0000${key}`;
    if (this.stopped || this.timers.has(id)) return;
    const t = setTimeout(() => {
      this.timers.delete(id);
      this.add(kind, key);
    }, ms);
    t.unref();
    this.timers.set(id, t);
  }

  private async drain(): Promise<void> {
    if (this.running) return;
    this.running = true;
    try {
      while (!this.stopped && this.pending.size > 0) {
        const id = this.pending.values().next().value as string;
        this.pending.delete(id);
        const [kind, key] = id.split('\u0000');
        const r = this.reconcilers.get(kind);
        if (!r) continue;
        try {
          const res = await r.reconcile(key);
          this.failures.delete(id);
          if (res?.requeueAfterMs !== undefined) this.addAfter(kind, key, res.requeueAfterMs);
        } catch (err) {
          const n = (this.failures.get(id) ?? 0) + 1;
          this.failures.set(id, n);
          const delay = Math.min(5000, 100 * 2 ** Math.min(n, 6));
          this.log(`reconcile ${kind}/${key} failed (retry in ${delay} ms): ${(err as Error).message}`);
          this.addAfter(kind, key, delay);
        }
      }
    } finally {
      this.running = false;
    }
  }

  stop(): void {
    this.stopped = true;
    for (const t of this.timers.values()) clearTimeout(t);
    this.timers.clear();
    this.pending.clear();
  }
}
