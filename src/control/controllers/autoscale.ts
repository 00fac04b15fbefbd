// autoscale/<service>: one evaluation of a `scale:` deployment (metrics → HPA decision, or the idle
// rule of scale to zero), then again after the interval while the service has `scale:`. What the
// evaluation must keep across restarts (the replica count set, the stabilization windows, the idle
// clock) is in the store; see autoscaling.ts.
import type { Autoscaling } from '../autoscaling.js';
import type { World } from '../world.js';
import type { Act, ReconcileOutcome } from './act.js';
import { isStopped } from './replicas.js';

export class AutoscaleController {
  constructor(
    private readonly autoscaling: Autoscaling,
    private readonly intervalMs = 1000,
  ) {}

  async reconcile(service: string, world: World, _act: Act): Promise<ReconcileOutcome> {
    if (world.down) return {};
    const spec = world.spec(service);
    if (!spec?.scale) {
      this.autoscaling.forget(service);
      return {};
    }
    // Stopped by `berth stop`: nothing is evaluated (no metrics, no idle clock), the recorded count is
    // kept for `berth start`; checked again each interval, so a start is picked up without a kick.
    if (isStopped(world, service)) return { requeueAfterMs: this.intervalMs };
    await this.autoscaling.evaluate(spec, world.scaleOverride(service) ?? spec.replicas);
    return { requeueAfterMs: this.intervalMs };
  }
}
