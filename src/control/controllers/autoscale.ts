// autoscale/<service>: one evaluation of a `scale:` deployment (metrics → HPA decision, or the idle
// rule of scale to zero), then again after the interval while the service has `scale:`. What the
// evaluation must keep across restarts (the replica count set, the stabilization windows, the idle
// clock) is in the store; see autoscaling.ts.
import type { Autoscaling } from '../autoscaling.js';
import type { World } from '../world.js';
import type { Act, ReconcileOutcome } from './act.js';

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
    await this.autoscaling.evaluate(spec, world.scaleOverride(service) ?? spec.replicas);
    return { requeueAfterMs: this.intervalMs };
  }
}
