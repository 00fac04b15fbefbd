// Public surface of the control plane: the process entry is main.ts; these are for tests and tools.
export { ControlPlane, type ControlPlaneOptions } from './control-plane.js';
export { createApiServer } from './api.js';
export { decideRollout, resolveBudget, type RolloutInput, type RolloutDecision, type RolloutInstance } from './rollout.js';
export type { PsRow, StatsRow } from './instances.js';
export type { StoredEvent } from './store.js';
export { WorkQueue, type Reconciler, type ReconcileResult } from './reconciler.js';
export type { RevisionEntry, RevisionStatus, RevisionWhy } from './release/history.js';
export type { ReleaseStatus, ReleaseOverview, ReleaseThrottle } from './release/status.js';
export type { ShadowStatus, ShadowRouteStatus } from './release/shadow.js';
export type { SyncOutcome } from './gitops/controller.js';
export type { GitopsStatusView } from './gitops/status.js';
export type { GitopsPolicyReport } from './gitops/policy.js';
export type { HistoryEntry } from './gitops/records.js';
export type { PromoteResult } from './gitops/promote.js';
export { describeDrift, detectDrift, type DriftItem } from './gitops/drift.js';
export type { RecordingInfo } from './recordings.js';
export type { TraceSummary } from './trace-store.js';
export type { MockSummary } from './mocks.js';
