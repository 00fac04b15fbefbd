// The skeleton of the node agent's watchers that turn a file a sidecar writes into events
// (log-buffer-events.ts: the log agent's status.json; dead-letter-events.ts: berth-proxy's dead
// letters): a timer that runs only while some instance has such a sidecar, the state last read per
// instance, forgotten when the instance goes. A subclass says which sidecar and what one read gives.
import type { NewEvent } from './event-log.js';
import type { Instance } from './instance.js';

export type Sidecar = Instance['sidecars'][number];

export abstract class SidecarFileWatcher<S> {
  private timer: NodeJS.Timeout | undefined;
  private readonly last = new Map<Instance, S>();

  constructor(
    protected readonly stateDir: string,
    private readonly instances: () => Iterable<Instance>,
    private readonly event: (inst: Instance, e: NewEvent) => void,
    private readonly intervalMs = 1000,
  ) {}

  /** The instance's sidecar whose file this watcher reads, if it runs one. */
  protected abstract sidecarOf(inst: Instance): Sidecar | undefined;

  /** One read of the sidecar's file against the state last read: the events to append and the new state (undefined: nothing new). */
  protected abstract read(inst: Instance, sidecar: Sidecar, prev: S | undefined): { events: NewEvent[]; state: S } | undefined;

  /** Runs the timer only while some instance has the sidecar. */
  refresh(): void {
    const needed = [...this.instances()].some((i) => this.sidecarOf(i) !== undefined);
    if (needed && !this.timer) {
      this.timer = setInterval(() => this.tick(), this.intervalMs);
      this.timer.unref();
    } else if (!needed && this.timer) this.stop();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    this.last.clear();
  }

  tick(): void {
    const seen = new Set<Instance>();
    for (const inst of this.instances()) {
      const sidecar = this.sidecarOf(inst);
      if (!sidecar || sidecar.startedAt === undefined || !this.watching(inst)) continue;
      seen.add(inst);
      const next = this.read(inst, sidecar, this.last.get(inst));
      if (!next) continue;
      for (const e of next.events) this.event(inst, e);
      this.last.set(inst, next.state);
    }
    for (const inst of this.last.keys()) if (!seen.has(inst)) this.last.delete(inst);
  }

  /** Whether the instance is read at all this round (default: always). */
  protected watching(_inst: Instance): boolean {
    return true;
  }
}
