// lifecycle/all: nodes dropped from the spec go once their last instance has moved away, and
// `berth down` finishes (queue stopped, agents shut down) once nothing is left running.
import type { World } from '../world.js';
import type { Act, ReconcileOutcome } from './act.js';

export const REMOVING_META = (node: string): string => `removing:${node}`;

export async function reconcileLifecycle(_key: string, world: World, act: Act): Promise<ReconcileOutcome> {
  let removed = false;
  for (const n of [...world.nodes()]) {
    if (world.getMeta(REMOVING_META(n.name)) !== '1') continue;
    if (world.countOn(n.name) > 0) continue;
    act.deleteNode(n.name);
    act.setMeta(REMOVING_META(n.name), '0');
    removed = true;
  }
  if (removed) await act.syncNodes();
  // A down that was interrupted by a control-plane restart waits for a new `berth down` or `up`.
  if (!world.shuttingDown) return {};
  const anyObserved = world.nodes().some((n) => (world.observedOn(n.name)?.size ?? 0) > 0);
  if (world.liveCount > 0 || anyObserved) return {};
  await act.finishDown();
  return {};
}
