// Drives one probe for one run of a process: schedules checks on monotonic time, feeds the state machine,
// reports verdict changes. Disposing it (process died) discards any check in flight.
import type { ProbeConfig } from '../../lib/agent-protocol.js';
import type { Probe } from './probe.js';
import { ProbeStateMachine } from './probe-state.js';

export type ProbeKind = 'startup' | 'readiness' | 'liveness';

export class ProbeRunner {
  private readonly machine: ProbeStateMachine;
  private timer: NodeJS.Timeout | undefined;
  private inflight: AbortController | undefined;
  private disposed = false;
  /** Message of the most recent check. */
  lastMessage = '';

  constructor(
    readonly kind: ProbeKind,
    private readonly config: ProbeConfig,
    private readonly probe: Probe,
    processStartedAtMs: number,
    private readonly onVerdict: (verdict: 'success' | 'failure', message: string, runner: ProbeRunner) => void,
  ) {
    this.machine = new ProbeStateMachine(config, processStartedAtMs, performance.now());
    this.schedule(this.machine.firstCheckAt());
  }

  get verdict(): ProbeStateMachine['verdict'] {
    return this.machine.verdict;
  }

  get consecutiveFailures(): number {
    return this.machine.consecutiveFailures;
  }

  /** Stops checking; a check in flight is aborted and its result ignored. */
  dispose(): void {
    this.disposed = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    this.inflight?.abort(new Error('probe disposed'));
    this.inflight = undefined;
    this.probe.close?.();
  }

  private schedule(atMs: number): void {
    if (this.disposed) return;
    this.timer = setTimeout(() => void this.run(), Math.max(0, atMs - performance.now()));
  }

  private async run(): Promise<void> {
    this.timer = undefined;
    if (this.disposed) return;
    const startedAt = performance.now();
    const controller = new AbortController();
    this.inflight = controller;
    const result = await this.probe.check({ timeoutMs: Math.max(1, this.config.timeoutSeconds * 1000), signal: controller.signal });
    if (this.disposed || controller.signal.aborted) return;
    this.inflight = undefined;
    this.lastMessage = result.message;
    const change = this.machine.record(result.ok, startedAt);
    if (change) this.onVerdict(change, result.message, this);
    this.schedule(this.machine.nextCheckAt(startedAt));
  }
}
