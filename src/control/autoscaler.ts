// The autoscaler's decision, pure (Kubernetes HPA's algorithm): each metric proposes
// ceil(base × value / target) unless within the 10 % tolerance; the largest proposal wins; the
// stabilization windows keep the most conservative recommendation (the lowest over the scale-up
// window, the highest over the scale-down window); a step is limited to the larger of
// maxStepPercent and maxStepInstances; the result stays within [min, max] (≥ 1: going to zero is
// the idle rule's business, not the metrics').

export type MetricKind = 'rps' | 'concurrency' | 'cpuPercent' | 'memoryPercent' | 'p99Ms';

export interface MetricReading {
  kind: MetricKind;
  target: number;
  /** Per-instance average (p99Ms: the service's p99); undefined when there is no data yet. */
  value: number | undefined;
}

export interface StepLimits {
  stabilizationSeconds?: number;
  maxStepPercent?: number;
  maxStepInstances?: number;
}

export interface Recommendation {
  at: number;
  replicas: number;
}

export interface AutoscaleInput {
  /** Monotonic ms. */
  now: number;
  /** The replica count now in force. */
  current: number;
  /** Instances whose metrics were read (the base the ratio multiplies). */
  measured: number;
  min: number;
  max: number;
  metrics: MetricReading[];
  scaleUp: StepLimits;
  scaleDown: StepLimits;
  /** Earlier raw recommendations (oldest first); the result carries the trimmed, extended list. */
  history: Recommendation[];
}

export interface AutoscaleDecision {
  desired: number;
  /** The largest metric proposal before stabilization and limits. */
  proposal: number;
  reason: string;
  history: Recommendation[];
}

export const TOLERANCE = 0.1;

const fmt = (n: number) => (Number.isInteger(n) ? String(n) : n.toFixed(n < 10 ? 2 : 1));

export function decideScale(input: AutoscaleInput): AutoscaleDecision {
  const { current } = input;
  const base = Math.max(1, input.measured || current);
  let proposal = 0;
  const parts: string[] = [];
  for (const m of input.metrics) {
    if (m.value === undefined) {
      parts.push(`${m.kind} no data`);
      continue;
    }
    const ratio = m.value / m.target;
    const p = Math.abs(ratio - 1) <= TOLERANCE ? current : Math.ceil(base * ratio);
    parts.push(`${m.kind} ${fmt(m.value)}/${fmt(m.target)}${m.kind === 'p99Ms' ? '' : ' per instance'} → ${p}`);
    proposal = Math.max(proposal, p);
  }
  const anyData = input.metrics.some((m) => m.value !== undefined);
  if (!anyData) proposal = current;

  // Stabilization: remember raw recommendations; up takes the min over its window, down the max over its.
  const upWindow = (input.scaleUp.stabilizationSeconds ?? 0) * 1000;
  const downWindow = (input.scaleDown.stabilizationSeconds ?? 0) * 1000;
  const keep = Math.max(upWindow, downWindow);
  const history = [...input.history.filter((r) => input.now - r.at <= keep), { at: input.now, replicas: proposal }];
  let up = proposal;
  let down = proposal;
  for (const r of history) {
    if (input.now - r.at <= upWindow) up = Math.min(up, r.replicas);
    if (input.now - r.at <= downWindow) down = Math.max(down, r.replicas);
  }
  let desired = current;
  if (desired < up) desired = up;
  if (desired > down) desired = down;

  // Step limits: the larger of the percentage and the instance count (Kubernetes selectPolicy Max).
  let limited = '';
  if (desired > current) {
    const pct = input.scaleUp.maxStepPercent !== undefined ? Math.ceil((current * input.scaleUp.maxStepPercent) / 100) : 0;
    const step = Math.max(pct, input.scaleUp.maxStepInstances ?? 0) || Infinity;
    if (desired > current + step) {
      desired = current + step;
      limited = ` (step limited to +${step})`;
    }
  } else if (desired < current) {
    const pct = input.scaleDown.maxStepPercent !== undefined ? Math.floor((current * input.scaleDown.maxStepPercent) / 100) : 0;
    const step = Math.max(pct, input.scaleDown.maxStepInstances ?? 0, 1);
    if (desired < current - step) {
      desired = current - step;
      limited = ` (step limited to -${step})`;
    }
  }
  const floor = Math.max(1, input.min);
  const clamped = Math.min(input.max, Math.max(floor, desired));
  const bound = clamped !== desired ? ` (bounded by ${clamped === input.max ? `max ${input.max}` : `min ${floor}`})` : '';
  const stabilized = desired !== proposal && !limited && anyData ? ' (stabilizing)' : '';
  return {
    desired: clamped,
    proposal,
    reason: `${parts.join(', ') || 'no metrics'}${limited}${stabilized}${bound}`,
    history,
  };
}
