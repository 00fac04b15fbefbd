// Replicas in force for a deployment: the autoscaler's count for a scaled service, else
// `berth scale`'s, else the spec's. Read by the deployment controller, status and activation.
import type { DesiredService } from '../../plan/index.js';
import type { World } from '../world.js';

/** Where the autoscaler records the count it set ('' or absent: none). */
export const AUTOSCALE_META = (service: string): string => `autoscale:${service}`;

export function autoscaledReplicas(world: World, service: string): number | undefined {
  const v = world.getMeta(AUTOSCALE_META(service));
  return v === undefined || v === '' ? undefined : Number(v);
}

export function effectiveReplicas(world: World, spec: DesiredService): number {
  const manual = world.scaleOverride(spec.name) ?? spec.replicas;
  if (!spec.scale) return manual;
  return autoscaledReplicas(world, spec.name) ?? Math.min(spec.scale.max, Math.max(spec.scale.min, manual));
}
