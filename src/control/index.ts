// Public surface of the control plane: the process entry is main.ts; these are for tests and tools.
export { ControlPlane, type ControlPlaneOptions } from './control-plane.js';
export { createApiServer } from './api.js';
export { decideRollout, resolveBudget, type RolloutInput, type RolloutDecision, type RolloutInstance } from './rollout.js';
export type { PsRow, StatsRow } from './instances.js';
export type { StoredEvent } from './store.js';
export { WorkQueue, type Reconciler, type ReconcileResult } from './reconciler.js';
