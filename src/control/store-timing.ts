// Store write latency: every write method of the store is timed into
// berth_store_write_duration_seconds{op}. The store stays free of metrics; the process wiring (main.ts)
// instruments the one store it opens. A write method added to the store belongs in this list.
import { controlMetrics, type MetricsRegistry } from './metrics.js';
import type { Store } from './store.js';

const STORE_WRITES = [
  'setMeta',
  'setDesired',
  'setScaleOverride',
  'bumpRestartGeneration',
  'insertInstance',
  'bindInstance',
  'upsertNode',
  'setNodeFlags',
  'deleteNode',
  'markDispatched',
  'markTerminating',
  'markStopped',
  'saveObserved',
  'addEvent',
  'addAgentEvents',
  'backup',
] as const satisfies readonly (keyof Store)[];

const timed = new WeakSet<Store>();

export function timeStoreWrites(store: Store, reg: MetricsRegistry = controlMetrics): void {
  if (timed.has(store)) return;
  timed.add(store);
  const histogram = reg.histogram('berth_store_write_duration_seconds', 'Time one store write took (a SQLite statement or transaction).', ['op']);
  const slots = store as unknown as Record<string, (...args: unknown[]) => unknown>;
  for (const op of STORE_WRITES) {
    const original = slots[op];
    slots[op] = function (this: unknown, ...args: unknown[]): unknown {
      const t0 = performance.now();
      try {
        return original.apply(this, args);
      } finally {
        histogram.observe({ op }, (performance.now() - t0) / 1000);
      }
    };
  }
}
