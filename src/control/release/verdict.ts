// Argo Rollouts' verdict rules, as pure functions: a measurement from its conditions
// (evaluate.EvaluateResult), a metric from its counters (assessMetricStatus) and a run from its
// metrics (assessRunStatus), so a Berth release judges a revision exactly as Argo would.
import type { AnalysisMetricSpec } from '../../contract/index.js';
import { ExpressionError, evaluateCondition, parseExpression, type Expression } from '../../lib/expr.js';
import { isCompleted, type AnalysisPhase, type AnalysisRun, type MetricResult } from './analysis-run.js';

const parsed = new Map<string, Expression>();

function condition(text: string): Expression {
  let e = parsed.get(text);
  if (!e) {
    e = parseExpression(text);
    if (parsed.size > 1000) parsed.clear();
    parsed.set(text, e);
  }
  return e;
}

/**
 * The phase of one measurement whose provider gave `result`:
 * - no conditions: Successful;
 * - only successCondition: Successful when it holds, else Failed;
 * - only failureCondition: Failed when it holds, else Successful;
 * - both: Failed when the failure condition holds, Successful when only the success condition does,
 *   Inconclusive when neither does.
 * A condition that cannot be evaluated (a missing field, a wrong type) is an Error.
 */
export function measurementPhase(metric: Pick<AnalysisMetricSpec, 'successCondition' | 'failureCondition'>, result: unknown): { phase: AnalysisPhase; message?: string } {
  const vars = { result };
  let success = false;
  let failure = false;
  try {
    if (metric.successCondition !== undefined) success = evaluateCondition(condition(metric.successCondition), vars);
    if (metric.failureCondition !== undefined) failure = evaluateCondition(condition(metric.failureCondition), vars);
  } catch (err) {
    if (err instanceof ExpressionError) return { phase: 'Error', message: `condition: ${err.message}` };
    throw err;
  }
  if (metric.successCondition === undefined && metric.failureCondition === undefined) return { phase: 'Successful' };
  if (metric.failureCondition === undefined) failure = !success;
  else if (metric.successCondition === undefined) success = !failure;
  if (failure) return { phase: 'Failed', message: metric.failureCondition !== undefined ? `failureCondition holds: ${metric.failureCondition}` : `successCondition does not hold: ${metric.successCondition}` };
  if (!success) return { phase: 'Inconclusive', message: 'neither successCondition nor failureCondition holds' };
  return { phase: 'Successful' };
}

/** Measurements a metric takes: `count`, or 1 without an interval, or unlimited (undefined) with one. */
export function effectiveCount(metric: Pick<AnalysisMetricSpec, 'count' | 'interval'>): number | undefined {
  if (metric.count !== undefined) return metric.count;
  return metric.interval === undefined ? 1 : undefined;
}

/**
 * A metric's phase from its counters (Argo assessMetricStatus), checked in this order: Failed when
 * failed > failureLimit, Inconclusive when inconclusive > inconclusiveLimit, Error when consecutive
 * errors > consecutiveErrorLimit, Successful when the count is reached; otherwise Running (Pending
 * before the first measurement). `terminating`: the run is being stopped — a metric without a verdict
 * then ends Successful.
 */
export function metricPhase(r: MetricResult, terminating: boolean): { phase: AnalysisPhase; message?: string } {
  if (isCompleted(r.phase)) return { phase: r.phase, ...(r.message !== undefined ? { message: r.message } : {}) };
  const m = r.metric;
  if (r.measurements.length === 0 && r.count + r.error === 0) return terminating ? { phase: 'Successful', message: 'stopped before its first measurement' } : { phase: 'Pending' };
  const last = r.measurements[r.measurements.length - 1];
  if (last?.phase === 'Running') return { phase: 'Running' };
  if (r.failed > m.failureLimit) return { phase: 'Failed', message: `failed (${r.failed}) > failureLimit (${m.failureLimit})` };
  if (r.inconclusive > m.inconclusiveLimit) return { phase: 'Inconclusive', message: `inconclusive (${r.inconclusive}) > inconclusiveLimit (${m.inconclusiveLimit})` };
  if (r.consecutiveError > m.consecutiveErrorLimit) return { phase: 'Error', message: `consecutive errors (${r.consecutiveError}) > consecutiveErrorLimit (${m.consecutiveErrorLimit})${last?.message ? `: ${last.message}` : ''}` };
  const count = effectiveCount(m);
  if (count !== undefined && r.count >= count) return { phase: 'Successful', message: `${r.count} of ${count} measurements taken` };
  if (terminating) return { phase: 'Successful', message: 'stopped' };
  return { phase: 'Running' };
}

/** Worse-than order of completed phases (Argo's analysisStatusOrder). */
const ORDER: AnalysisPhase[] = ['Pending', 'Running', 'Successful', 'Inconclusive', 'Error', 'Failed'];

export function isWorse(current: AnalysisPhase, next: AnalysisPhase): boolean {
  return ORDER.indexOf(next) > ORDER.indexOf(current);
}

/** A run is stopping when asked to, or once a metric is Failed, Error or Inconclusive (Argo IsTerminating). */
export function isTerminating(run: AnalysisRun): boolean {
  return run.terminate === true || run.metrics.some((m) => m.phase === 'Failed' || m.phase === 'Error' || m.phase === 'Inconclusive');
}

/**
 * Re-assesses every metric and the run (Argo assessRunStatus): the run completes when every metric
 * has, with the worst of their phases; until then it is Running (Pending before any measurement).
 * Returns a new run; the input is not changed.
 */
export function assessRun(run: AnalysisRun, now: number): AnalysisRun {
  if (isCompleted(run.phase)) return run;
  if (run.metrics.length === 0) return { ...run, phase: 'Successful', finishedAt: now };
  const metrics = run.metrics.map((m) => ({ ...m }));
  let next: AnalysisRun = { ...run, metrics };
  // Two passes: a metric that completes Failed in the first makes the others terminate in the second.
  for (let pass = 0; pass < 2; pass++) {
    const terminating = isTerminating(next);
    for (const m of metrics) {
      const v = metricPhase(m, terminating);
      m.phase = v.phase;
      if (v.message !== undefined) m.message = v.message;
      if (isCompleted(m.phase)) delete m.nextAt;
    }
    next = { ...next, metrics };
  }
  let worst: AnalysisPhase | undefined;
  let message: string | undefined;
  let all = true;
  let started = false;
  for (const m of metrics) {
    if (m.phase !== 'Pending') started = true;
    if (!isCompleted(m.phase)) {
      all = false;
      continue;
    }
    if (worst === undefined || isWorse(worst, m.phase)) {
      worst = m.phase;
      message = m.phase === 'Successful' ? undefined : `metric ${m.name}: ${m.message ?? m.phase}`;
    }
  }
  if (all && worst !== undefined) return { ...next, phase: worst, finishedAt: now, ...(message !== undefined ? { message } : {}) };
  return { ...next, phase: started ? 'Running' : 'Pending' };
}
