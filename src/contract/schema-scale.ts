// A service's `scale:` — the autoscaler's contract, with Kubernetes HPA meaning: a replica range,
// the metrics to hold at their targets, and how fast to move (stabilization windows, step limits).
import { z } from 'zod';
import { BOUNDS, bounded } from './bounded.js';

const positive = (what: string) => z.number().positive({ message: `must be greater than 0 (${what})` });
const wholeAtLeast1 = z.number().int({ message: 'must be a whole number' }).min(1, { message: 'must be at least 1' });

/** One metric, one key: its target per instance (rps, concurrency, cpuPercent, memoryPercent) or for the service (p99Ms). */
export const ScaleMetric = z.union([
  z.strictObject({ rps: positive('requests per second per instance').describe('Target requests per second per instance, measured by the sidecars.') }),
  z.strictObject({ concurrency: positive('requests in flight per instance').describe('Target requests in flight per instance.') }),
  z.strictObject({ cpuPercent: positive('percent of resources.cpuMillis').describe('Target CPU use as a percentage of resources.cpuMillis (Kubernetes averageUtilization).') }),
  z.strictObject({ memoryPercent: positive('percent of resources.memoryMiB').describe('Target memory use as a percentage of resources.memoryMiB.') }),
  z.strictObject({ p99Ms: positive('milliseconds').describe("Target 99th-percentile latency of the service's inbound requests, in ms.") }),
]);

export const ScaleStep = z
  .strictObject({
    stabilizationSeconds: bounded({ ...BOUNDS.durationSeconds, min: 0 }).optional().describe('Kubernetes stabilizationWindowSeconds: the most conservative recommendation over this window wins.'),
    maxStepPercent: positive('percent of current replicas').optional().describe('At most this percentage of the current replicas per step (Kubernetes Percent policy).'),
    maxStepInstances: wholeAtLeast1.optional().describe('At most this many instances per step (Kubernetes Pods policy); with maxStepPercent the larger step is allowed.'),
  })
  .describe('Limits for one direction of scaling (Kubernetes HPA behavior).');

export const Scale = z
  .strictObject({
    min: bounded('replicas').default(1).describe('Fewest instances (0 allows scale to zero, with idleSeconds).'),
    max: bounded({ ...BOUNDS.replicas, min: 1 }).describe('Most instances.'),
    metrics: z.array(ScaleMetric).min(1, { message: 'declare at least one metric' }).describe('Metrics to hold at their targets; the largest proposal wins (Kubernetes HPA).'),
    idleSeconds: bounded('durationSeconds').optional().describe('With min 0: seconds without a request before the service goes to zero instances (default 60).'),
    activationTimeoutSeconds: bounded('durationSeconds')
      .optional()
      .describe('With min 0: how long the mesh holds a request for a service at zero while an instance starts, before answering 503 (default 30).'),
    behavior: z
      .strictObject({
        scaleUp: ScaleStep.default({ stabilizationSeconds: 0, maxStepPercent: 100, maxStepInstances: 4 }),
        scaleDown: ScaleStep.default({ stabilizationSeconds: 30, maxStepPercent: 100 }),
      })
      .prefault({})
      .describe('How fast to scale up and down.'),
  })
  .describe('Autoscaling (Kubernetes HorizontalPodAutoscaler semantics, evaluated every second locally).');

export type ScaleSpec = z.output<typeof Scale>;
export type ScaleMetricSpec = z.output<typeof ScaleMetric>;
