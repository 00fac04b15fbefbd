// An analysis run as data: the templates' metrics, every metric's counters and latest measurements,
// and the run's phase — JSON-serialisable, so a release controller can persist it in the store after
// every change and resume it after a control-plane restart (times are epoch milliseconds, so a
// pending measurement keeps its due time). Argo Rollouts' AnalysisRun, reduced to what Berth needs.
import type { AnalysisMetricSpec, AnalysisTemplateSpec } from '../../contract/index.js';

/** Argo's AnalysisPhase. */
export type AnalysisPhase = 'Pending' | 'Running' | 'Successful' | 'Failed' | 'Error' | 'Inconclusive';

export const COMPLETED_PHASES: readonly AnalysisPhase[] = ['Successful', 'Failed', 'Error', 'Inconclusive'];

export function isCompleted(phase: AnalysisPhase): boolean {
  return COMPLETED_PHASES.includes(phase);
}

export interface Measurement {
  /** Successful, Failed, Inconclusive or Error (Running while it is being taken). */
  phase: AnalysisPhase;
  startedAt: number;
  finishedAt?: number;
  /** What the provider gave (`result` of the conditions), kept small. */
  value?: unknown;
  /** Why it is an Error, or which condition decided. */
  message?: string;
}

export interface MetricResult {
  /** `<template>.<metric>`: metric names are unique within a template, not across templates. */
  name: string;
  template: string;
  metric: AnalysisMetricSpec;
  phase: AnalysisPhase;
  /** The most recent measurements (at most MEASUREMENT_RETENTION); the counters count all of them. */
  measurements: Measurement[];
  /** Measurements without Error (Argo `count`). */
  count: number;
  successful: number;
  failed: number;
  inconclusive: number;
  error: number;
  consecutiveError: number;
  /** When the next measurement is due (epoch ms); absent once the metric is complete. */
  nextAt?: number;
  message?: string;
}

/** What the measurements are about: the service and, for the berth provider, which variants are canary and stable. */
export interface AnalysisContext {
  service: string;
  /** Variant name of the canary's endpoints (as the mesh labels them). */
  canary?: string;
  /** Variant name of the stable endpoints (`default` for the service's own instances). */
  stable?: string;
}

export interface AnalysisRun {
  id: string;
  /** Template names, in the order given. */
  templates: string[];
  context: AnalysisContext;
  phase: AnalysisPhase;
  message?: string;
  startedAt: number;
  finishedAt?: number;
  /** Set to stop the run (background analysis at the end of a release): running metrics then complete. */
  terminate?: boolean;
  metrics: MetricResult[];
}

/** Measurements kept per metric (Argo's default measurementRetention). */
export const MEASUREMENT_RETENTION = 10;

/** A new run of `templates` (names into `defs`); throws when a name is not defined (the contract checks this earlier). */
export function newAnalysisRun(id: string, templates: string[], defs: Record<string, AnalysisTemplateSpec>, context: AnalysisContext, now: number): AnalysisRun {
  const metrics: MetricResult[] = [];
  for (const t of templates) {
    const def = defs[t];
    if (!def) throw new Error(`unknown analysis template "${t}"`);
    for (const m of def.metrics) {
      metrics.push({
        name: `${t}.${m.name}`,
        template: t,
        metric: structuredClone(m),
        phase: 'Pending',
        measurements: [],
        count: 0,
        successful: 0,
        failed: 0,
        inconclusive: 0,
        error: 0,
        consecutiveError: 0,
        nextAt: now + (m.initialDelay ?? 0),
      });
    }
  }
  return { id, templates: [...templates], context: { ...context }, phase: 'Pending', startedAt: now, metrics };
}
