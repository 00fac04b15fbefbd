// Pure probe state machine with Kubernetes meaning (thresholds, period, initial delay), no I/O and no clock:
// callers pass monotonic milliseconds. Checks poll fast until the first success; failures are counted at
// most once per period, so a fast poll or a late timer tick never counts one failure twice.
import type { ProbeConfig } from '../../lib/agent-protocol.js';

export type ProbeTiming = Omit<ProbeConfig, 'handler'>;
export type ProbeVerdict = 'unknown' | 'success' | 'failure';

/** Interval between checks until the first success. */
export const FAST_POLL_MS = 100;
/** A counted failure needs a full period since the previous counted one, less this slack for timer jitter. */
function periodSlackMs(periodMs: number): number {
  return Math.min(periodMs * 0.05, 25);
}

export class ProbeStateMachine {
  verdict: ProbeVerdict = 'unknown';
  everSucceeded = false;
  consecutiveSuccesses = 0;
  consecutiveFailures = 0;
  private lastCountedFailureAt: number | undefined;

  /**
   * @param timing the probe's thresholds and periods
   * @param processStartedAtMs monotonic time the process started (initialDelaySeconds counts from here)
   * @param activatedAtMs monotonic time the probe may start (later than start when gated by a startup probe)
   */
  constructor(
    private readonly timing: ProbeTiming,
    private readonly processStartedAtMs: number,
    private readonly activatedAtMs: number = processStartedAtMs,
  ) {}

  /** Monotonic time of the first check. */
  firstCheckAt(): number {
    return Math.max(this.activatedAtMs, this.processStartedAtMs + this.timing.initialDelaySeconds * 1000);
  }

  /** Monotonic time of the check after one that started at `lastCheckStartedAt`. */
  nextCheckAt(lastCheckStartedAt: number): number {
    const period = this.periodMs();
    return lastCheckStartedAt + (this.everSucceeded ? period : Math.min(period, FAST_POLL_MS));
  }

  /** Records the outcome of a check started at `checkStartedAt`; returns the new verdict when it changed. */
  record(ok: boolean, checkStartedAt: number): 'success' | 'failure' | undefined {
    if (ok) {
      this.everSucceeded = true;
      this.consecutiveFailures = 0;
      this.lastCountedFailureAt = undefined;
      this.consecutiveSuccesses++;
      if (this.verdict !== 'success' && this.consecutiveSuccesses >= Math.max(1, this.timing.successThreshold)) {
        this.verdict = 'success';
        return 'success';
      }
      return undefined;
    }
    this.consecutiveSuccesses = 0;
    const counted = this.lastCountedFailureAt === undefined || checkStartedAt - this.lastCountedFailureAt >= this.periodMs() - periodSlackMs(this.periodMs());
    if (!counted) return undefined;
    this.lastCountedFailureAt = checkStartedAt;
    this.consecutiveFailures++;
    if (this.verdict !== 'failure' && this.consecutiveFailures >= Math.max(1, this.timing.failureThreshold)) {
      this.verdict = 'failure';
      return 'failure';
    }
    return undefined;
  }

  private periodMs(): number {
    return Math.max(1, this.timing.periodSeconds * 1000);
  }
}
