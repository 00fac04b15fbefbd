// Progressive delivery's building blocks for the release controller: analysis runs (data a
// controller persists and resumes), Argo's verdict rules, the runner and its metric providers,
// and the revision history of every service.
export { type AnalysisPhase, type AnalysisRun, type AnalysisContext, type Measurement, type MetricResult, COMPLETED_PHASES, MEASUREMENT_RETENTION, isCompleted, newAnalysisRun } from './analysis-run.js';
export { measurementPhase, metricPhase, assessRun, effectiveCount, isTerminating, isWorse } from './verdict.js';
export { AnalysisRunner, terminateRun, ERROR_RETRY_MS, type AnalysisRunnerOptions, type ReconcileResult } from './analysis-runner.js';
export { measurePrometheus, measureWeb, jsonPathValue, prometheusResult, type MeasureFn, type MeasureContext, type MetricProviders } from './providers.js';
export { berthProvider, worldStatsSource, windowStats, type StatsSource, type EndpointSample, type BerthResult, type SideStats } from './berth-provider.js';
export { saveAnalysisRun, loadAnalysisRun, deleteAnalysisRun, controlPlaneProviders } from './persist.js';
export { RevisionHistory, publicEntry, DEFAULT_REVISION_HISTORY_LIMIT, REVISION_WHY, REVISION_STATUSES, type RevisionEntry, type RevisionWhy, type RevisionStatus } from './history.js';
