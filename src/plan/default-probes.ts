// Probes Berth adds when the spec leaves them out. A service with a `port` and no readiness probe gets a TCP
// readiness probe on its port, so an instance counts as ready once its app accepts connections — not once
// it was spawned or its sidecar listens (a rollout or a scale-from-zero would otherwise send the first
// requests to an app still starting). `readiness: none` opts out.
import type { ProbeSpec, ServiceSpec } from '../contract/index.js';

/**
 * Timings of the default probe: checked every 0.2 s from the start (a refused loopback connection answers at
 * once, so readiness follows the app's listen() within a period); 3 failures make a ready instance unready.
 */
export const DEFAULT_READINESS_TIMING = {
  initialDelaySeconds: 0,
  periodSeconds: 0.2,
  timeoutSeconds: 1,
  successThreshold: 1,
  failureThreshold: 3,
} as const;

/** The readiness probe the service runs with: its own, the default TCP probe on its port, or none. */
export function effectiveReadiness(svc: Pick<ServiceSpec, 'port' | 'probes'>): ProbeSpec | undefined {
  const declared = svc.probes.readiness;
  if (declared === 'none') return undefined;
  if (declared) return declared;
  if (svc.port === undefined) return undefined;
  // The spec port: compile re-aims it at wherever the app really listens, exactly as for a declared probe.
  return { tcp: { port: svc.port }, ...DEFAULT_READINESS_TIMING };
}
