// Dead letters of the building-block API in `berth events`: the node agent reads each instance's
// dead-letter file (written by its berth-proxy, see src/lib/dapr-dead-letters.ts) every second and
// appends an event per new record, attributed to the instance and its service — the pattern of
// log-buffer-events.ts: no new route for sidecars, fixed reasons, events kept while the control
// plane is down.
import type { NewEvent } from './event-log.js';
import type { Instance } from './instance.js';
import { deadLetterEvent, deadLetterFile, readDeadLetters } from '../lib/dapr-dead-letters.js';

const PROXY = 'berth-proxy';

function daprProxyOf(inst: Instance): Instance['sidecars'][number] | undefined {
  return inst.sidecars.find((s) => s.template.name === PROXY && s.template.env.BERTH_DAPR !== undefined);
}

export class DeadLetterWatcher {
  private timer: NodeJS.Timeout | undefined;
  private readonly last = new Map<Instance, { startedAt: string; seq: number }>();

  constructor(
    private readonly stateDir: string,
    private readonly instances: () => Iterable<Instance>,
    private readonly event: (inst: Instance, e: NewEvent) => void,
    private readonly intervalMs = 1000,
  ) {}

  /** Runs the timer only while some instance's proxy serves the API. */
  refresh(): void {
    const needed = [...this.instances()].some((i) => daprProxyOf(i) !== undefined);
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
      const proxy = daprProxyOf(inst);
      if (!proxy || proxy.startedAt === undefined) continue;
      seen.add(inst);
      const file = readDeadLetters(deadLetterFile(proxy.template.env.BERTH_STATE_DIR ?? this.stateDir, inst.id));
      // A file older than the running proxy is a previous run's (same instance id after a restart): said already.
      if (!file || file.startedAt < proxy.startedAt) continue;
      const prev = this.last.get(inst);
      const after = prev && prev.startedAt === file.startedAt ? prev.seq : 0;
      let seq = after;
      for (const r of file.records) {
        if (r.seq <= after) continue;
        this.event(inst, deadLetterEvent(r));
        seq = Math.max(seq, r.seq);
      }
      this.last.set(inst, { startedAt: file.startedAt, seq });
    }
    for (const inst of this.last.keys()) if (!seen.has(inst)) this.last.delete(inst);
  }
}
