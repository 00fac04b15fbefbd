// Restart back-off schedule (CrashLoopBackOff), as a pure function of the consecutive restart count.
import type { RestartConfig } from '../lib/agent-protocol.js';

/**
 * Delay in seconds before the n-th consecutive restart (n starts at 1).
 * The first restart is immediate; from the second on the delay is initialSeconds × 2^(n-2), capped at maxSeconds.
 */
export function restartDelaySeconds(consecutiveRestart: number, config: Pick<RestartConfig, 'initialSeconds' | 'maxSeconds'>): number {
  if (consecutiveRestart <= 1) return 0;
  const exponent = Math.min(consecutiveRestart - 2, 60);
  const delay = config.initialSeconds * 2 ** exponent;
  return Math.max(0, Math.min(delay, config.maxSeconds));
}

/** Whether a process that ran for `ranSeconds` resets the consecutive restart counter. */
export function ranLongEnoughToReset(ranSeconds: number, config: Pick<RestartConfig, 'resetAfterSeconds'>): boolean {
  return ranSeconds >= config.resetAfterSeconds;
}

/** Whether the restart policy asks for a restart after this exit (a signal counts as a failure). */
export function shouldRestart(policy: RestartConfig['policy'], exit: { code: number | null; signal: string | null }): boolean {
  if (policy === 'always') return true;
  if (policy === 'never') return false;
  return exit.signal !== null || exit.code !== 0;
}
