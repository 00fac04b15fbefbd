// Replicas in force for a deployment: zero while `berth stop` holds its service, else the
// autoscaler's count for a scaled service, else `berth scale`'s, else the spec's. Read by the
// deployment controller, status and activation.
import type { DesiredService } from '../../plan/index.js';
import type { World } from '../world.js';

/** Where the autoscaler records the count it set ('' or absent: none). */
export const AUTOSCALE_META = (service: string): string => `autoscale:${service}`;

/** Where `berth stop` records that a service (or one variant's deployment) is stopped: '1'; '' or absent: not. */
export const STOPPED_META = (service: string): string => `stopped:${service}`;

export function autoscaledReplicas(world: World, service: string): number | undefined {
  const v = world.getMeta(AUTOSCALE_META(service));
  return v === undefined || v === '' ? undefined : Number(v);
}

/** Whether `berth stop` holds this deployment: stopped itself, or its service (`orders` holds `orders.v2`). */
export function isStopped(world: World, deployment: string): boolean {
  return world.getMeta(STOPPED_META(deployment)) === '1' || world.getMeta(STOPPED_META(deployment.split('.')[0])) === '1';
}

/** The replicas the deployment would have without `berth stop`: what `berth start` returns it to. */
export function startedReplicas(world: World, spec: DesiredService): number {
  const manual = world.scaleOverride(spec.name) ?? spec.replicas;
  if (!spec.scale) return manual;
  return autoscaledReplicas(world, spec.name) ?? Math.min(spec.scale.max, Math.max(spec.scale.min, manual));
}

export function effectiveReplicas(world: World, spec: DesiredService): number {
  return isStopped(world, spec.name) ? 0 : startedReplicas(world, spec);
}
