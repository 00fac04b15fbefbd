// Drives analysis runs: takes each metric's measurements at `initialDelay`, then every `interval`,
// `count` times (or until the run is stopped), through the metric's provider, and judges them with
// Argo's rules (verdict.ts). Level-triggered like the controllers: reconcile(run) takes what is due
// now and returns the new run with the time it next needs a call, so a release controller can
// persist the run after each call and resume it after a restart (a measurement cut short by a
// restart is simply taken again: its due time is still in the past).
import { isCompleted, MEASUREMENT_RETENTION, type AnalysisRun, type Measurement, type MetricResult } from './analysis-run.js';
import type { MeasureContext, MeasureFn, MetricProviders } from './providers.js';

const noReplay: MeasureFn = () => Promise.reject(new Error('the replay provider is not available here (no recordings to read)'));
import { assessRun, isTerminating, measurementPhase } from './verdict.js';

/** When a measurement could not be taken and the metric has no interval: retry after this (Argo's DefaultErrorRetryInterval). */
export const ERROR_RETRY_MS = 10_000;
/** A measured value kept in the run larger than this (JSON characters) is cut to a preview. */
const MAX_VALUE_CHARS = 2048;

export interface AnalysisRunnerOptions {
  providers: MetricProviders;
  /** Epoch milliseconds (injectable for tests). */
  now?: () => number;
}

export interface ReconcileResult {
  run: AnalysisRun;
  /** When to call again (epoch ms); undefined once the run is complete. */
  nextAt?: number;
}

function keepable(value: unknown): unknown {
  let text: string | undefined;
  try {
    text = JSON.stringify(value);
  } catch {
    return String(value);
  }
  if (text === undefined) return null;
  if (text.length <= MAX_VALUE_CHARS) return JSON.parse(text) as unknown;
  return { preview: `${text.slice(0, MAX_VALUE_CHARS)}…`, truncated: true };
}

export class AnalysisRunner {
  private readonly now: () => number;

  constructor(private readonly opts: AnalysisRunnerOptions) {
    this.now = opts.now ?? Date.now;
  }

  /** Takes the measurements due now (metrics in parallel) and re-assesses the run. */
  async reconcile(run: AnalysisRun, signal: AbortSignal = new AbortController().signal): Promise<ReconcileResult> {
    let current = assessRun(run, this.now());
    if (isCompleted(current.phase)) return { run: current };
    const now = this.now();
    const due = isTerminating(current) ? [] : current.metrics.filter((m) => !isCompleted(m.phase) && (m.nextAt ?? 0) <= now);
    if (due.length > 0) {
      const measured = new Map(await Promise.all(due.map(async (m) => [m.name, await this.measure(m, current, signal)] as const)));
      current = { ...current, metrics: current.metrics.map((m) => measured.get(m.name) ?? m) };
      current = assessRun(current, this.now());
    }
    return { run: current, ...(isCompleted(current.phase) ? {} : { nextAt: nextDue(current) }) };
  }

  /**
   * Runs `run` to its end, waiting between measurements; `onChange` gets every new state (persist it
   * there). Resolves with the completed run, or with the run as it stands when `signal` aborts.
   */
  async runToCompletion(run: AnalysisRun, opts: { signal?: AbortSignal; onChange?: (run: AnalysisRun) => void } = {}): Promise<AnalysisRun> {
    const signal = opts.signal ?? new AbortController().signal;
    let current = run;
    for (;;) {
      if (signal.aborted) return current;
      const r = await this.reconcile(current, signal);
      if (r.run !== current) opts.onChange?.(r.run);
      current = r.run;
      if (r.nextAt === undefined || signal.aborted) return current;
      await wait(Math.max(0, r.nextAt - this.now()), signal);
    }
  }

  private async measure(m: MetricResult, run: AnalysisRun, signal: AbortSignal): Promise<MetricResult> {
    const p = m.metric.provider;
    const providers = this.opts.providers;
    const provider: MeasureFn = p.berth ? providers.berth : p.prometheus ? providers.prometheus : p.replay ? (providers.replay ?? noReplay) : providers.web;
    const ctx: MeasureContext = { ...run.context, signal, key: `${run.id}/${m.name}` };
    const startedAt = this.now();
    let measurement: Measurement;
    try {
      const value = await provider(m.metric, ctx);
      const verdict = measurementPhase(m.metric, value);
      measurement = { phase: verdict.phase, startedAt, finishedAt: this.now(), value: keepable(value), ...(verdict.message !== undefined ? { message: verdict.message } : {}) };
    } catch (err) {
      measurement = { phase: 'Error', startedAt, finishedAt: this.now(), message: err instanceof Error ? err.message : String(err) };
    }
    const next: MetricResult = { ...m, measurements: [...m.measurements, measurement].slice(-MEASUREMENT_RETENTION), phase: 'Running' };
    switch (measurement.phase) {
      case 'Successful':
        next.successful++;
        break;
      case 'Failed':
        next.failed++;
        break;
      case 'Inconclusive':
        next.inconclusive++;
        break;
      default:
        next.error++;
        next.consecutiveError++;
    }
    if (measurement.phase !== 'Error') {
      next.count++;
      next.consecutiveError = 0;
    }
    const interval = m.metric.interval ?? (measurement.phase === 'Error' ? ERROR_RETRY_MS : undefined);
    if (interval !== undefined) next.nextAt = measurement.finishedAt! + interval;
    else delete next.nextAt;
    return next;
  }
}

function nextDue(run: AnalysisRun): number | undefined {
  let at: number | undefined;
  for (const m of run.metrics) if (!isCompleted(m.phase) && m.nextAt !== undefined) at = at === undefined ? m.nextAt : Math.min(at, m.nextAt);
  return at;
}

function wait(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const t = setTimeout(done, ms);
    function done(): void {
      clearTimeout(t);
      signal.removeEventListener('abort', done);
      resolve();
    }
    signal.addEventListener('abort', done, { once: true });
  });
}

/** Asks a run to stop (background analysis at the end of a release): metrics without a verdict end Successful. */
export function terminateRun(run: AnalysisRun, now: number): AnalysisRun {
  return assessRun({ ...run, terminate: true }, now);
}
