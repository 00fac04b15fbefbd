// Spec fields for progressive delivery, with Argo Rollouts' meaning wherever it has one: a service's
// `release:` (strategy rolling | canary | blueGreen, canary steps, background analysis, release-time
// throttling of the new revision, blue-green preview and promotion, rollback window, revision
// history) and the top-level `analysisTemplates:` (named metrics judged by conditions over `result`).
// Durations are compiled to milliseconds. Rules between fields (template names, steps against
// ports, conditions that parse) live in semantic-release.ts.
import { z } from 'zod';
import { Label } from './label.js';
import { HeaderName, Re2Regex } from './schema-mesh.js';
import { MAX_DURATION_SECONDS } from './bounded.js';

const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };
const DURATION_RE = /^(\d+(\.\d+)?(ms|s|m|h))+$/;

/** Milliseconds of a Go-style duration string ("30s", "5m", "1h30m", "250ms"). */
export function durationMs(text: string): number {
  let total = 0;
  for (const m of text.matchAll(/(\d+(?:\.\d+)?)(ms|s|m|h)/g)) total += Number(m[1]) * UNIT_MS[m[2]];
  return total;
}

function releaseDuration(min: number) {
  return z
    .union([
      z.number().min(0, { message: 'must not be negative (seconds)' }),
      z.string().regex(DURATION_RE, { message: 'must be seconds (a number) or a duration like "30s", "5m", "1h30m" or "250ms" (Argo Rollouts duration)' }),
    ])
    .transform((v) => Math.round(typeof v === 'number' ? v * 1000 : durationMs(v)))
    .pipe(
      z
        .number()
        .min(min, { message: min === 0 ? 'must not be negative' : `must be at least ${min} ms` })
        .max(MAX_DURATION_SECONDS * 1000, { message: `must be at most ${MAX_DURATION_SECONDS} seconds (one day)` }),
    );
}

/** A positive duration: seconds (number) or "30s" / "5m" / "1h"; compiled to milliseconds. */
export const ReleaseDuration = releaseDuration(1).describe('A duration: seconds (number) or a string like "250ms", "30s", "5m", "1h30m" (Argo Rollouts duration), at most one day.');
/** A duration that may be zero (initialDelay). */
const DelayDuration = releaseDuration(0).describe('A duration (may be 0): seconds (number) or a string like "30s", "5m".');

const Weight = z
  .number()
  .int({ message: 'a weight must be a whole number (percent)' })
  .min(0, { message: 'a weight must be between 0 and 100 (percent)' })
  .max(100, { message: 'a weight must be between 0 and 100 (percent)' });

const Count = (what: string) => z.number().int({ message: `${what} must be a whole number` }).min(0, { message: `${what} must not be negative` }).max(1_000_000, { message: `${what} must be at most 1000000` });

/** Exactly one of `keys` is set on `obj`. */
function exactlyOne<T extends Record<string, unknown>>(keys: readonly (keyof T & string)[]) {
  return (obj: T, ctx: z.RefinementCtx): void => {
    const given = keys.filter((k) => obj[k] !== undefined);
    if (given.length !== 1) ctx.addIssue({ code: 'custom', message: given.length === 0 ? `give one of ${keys.map((k) => `\`${k}\``).join(', ')}` : `give only one of ${given.map((k) => `\`${k}\``).join(', ')}` });
  };
}

export const ReleaseStringMatch = z
  .strictObject({
    exact: z.string().optional(),
    prefix: z.string().optional(),
    regex: Re2Regex.optional().describe('A regular expression (RE2 syntax) that must match the whole value.'),
  })
  .superRefine(exactlyOne(['exact', 'prefix', 'regex']))
  .describe('How a value is matched: exactly one of exact, prefix, regex (Argo Rollouts StringMatch).');

const HeaderRouteMatch = z
  .strictObject({
    headerName: HeaderName.describe('Request header to match.'),
    headerValue: ReleaseStringMatch,
  })
  .describe('One header condition of a header route (Argo Rollouts HeaderRoutingMatch).');

const MirrorRouteMatch = z
  .strictObject({
    method: ReleaseStringMatch.optional(),
    path: ReleaseStringMatch.optional(),
    headers: z.record(HeaderName, ReleaseStringMatch).optional().describe('Header name → match; every entry must hold.'),
  })
  .describe('Conditions of a mirror route; all given conditions must hold (Argo Rollouts RouteMatch).');

export const AnalysisRef = z
  .strictObject({
    templates: z.array(Label).min(1, { message: 'name at least one template' }).describe('Names of templates under the top-level `analysisTemplates`.'),
  })
  .describe('Analysis templates to run (their metrics run together in one analysis run).');

export const CanaryStep = z
  .strictObject({
    setWeight: Weight.optional().describe('Percent of the requests the canary receives from now on (Argo setWeight).'),
    pause: z
      .strictObject({ duration: ReleaseDuration.optional().describe('How long to wait; absent: until `berth release promote`.') })
      .optional()
      .describe('Wait: `{ duration: 30s }` for that long, `{}` until `berth release promote` (Argo pause).'),
    setCanaryScale: z
      .strictObject({
        replicas: Count('replicas').optional().describe('Exactly this many canary instances.'),
        weight: Weight.optional().describe("Canary instances as this percent of the service's replicas (rounded up)."),
        matchTrafficWeight: z.literal(true, { message: 'matchTrafficWeight takes `true` (leave it out otherwise)' }).optional().describe('Canary instances follow the traffic weight again (the default).'),
      })
      .superRefine(exactlyOne(['replicas', 'weight', 'matchTrafficWeight']))
      .optional()
      .describe('How many canary instances run, independently of the traffic weight (Argo setCanaryScale).'),
    setHeaderRoute: z
      .strictObject({
        name: Label.describe('Route name (a later step with the same name and no match removes it).'),
        match: z.array(HeaderRouteMatch).optional().describe('Header conditions, all of which must hold; absent: the route is removed.'),
      })
      .optional()
      .describe('Requests matching these headers go to the canary, whatever the weight (Argo setHeaderRoute).'),
    setMirrorRoute: z
      .strictObject({
        name: Label.describe('Route name (a later step with the same name and no match removes it).'),
        percentage: Weight.optional().describe('Percent of the matching requests copied to the canary (default 100).'),
        match: z.array(MirrorRouteMatch).optional().describe('Any one of these must hold; absent: the route is removed.'),
      })
      .optional()
      .describe('Copies matching requests to the canary; its answers are discarded (Argo setMirrorRoute).'),
    analysis: AnalysisRef.optional().describe('Runs these templates and waits for the run to end: Successful goes on, Failed or Error aborts, Inconclusive pauses (Argo inline analysis).'),
  })
  .superRefine(exactlyOne(['setWeight', 'pause', 'setCanaryScale', 'setHeaderRoute', 'setMirrorRoute', 'analysis']))
  .describe('One canary step: exactly one of setWeight, pause, setCanaryScale, setHeaderRoute, setMirrorRoute, analysis.');

export const CanaryThrottle = z
  .strictObject({
    rps: z.number().positive({ message: 'must be greater than 0 (requests per second)' }).max(1_000_000, { message: 'must be at most 1000000' }).optional().describe('Requests per second the canary is given at most; the overflow is served by stable.'),
    concurrency: z.number().int({ message: 'must be a whole number' }).positive({ message: 'must be at least 1' }).max(1_000_000, { message: 'must be at most 1000000' }).optional().describe('Requests in flight at the canary at most; the overflow is served by stable.'),
    slowStart: ReleaseDuration.optional().describe("The canary's budget ramps up linearly over this window from each weight change."),
  })
  .refine((t) => t.rps !== undefined || t.concurrency !== undefined || t.slowStart !== undefined, { message: 'give at least one of `rps`, `concurrency` or `slowStart`' })
  .describe('Release-time throttling of the new revision while it is released. A request over its budget is served by stable, not refused (429 only when stable has no capacity either).');

export const Canary = z
  .strictObject({
    steps: z.array(CanaryStep).default([]).describe('The steps, in order; after the last one the canary is promoted. No steps: promoted at once (Argo).'),
    analysis: AnalysisRef.extend({
      startingStep: Count('startingStep').optional().describe('Index of the step from which the background analysis runs (default 0).'),
    })
      .optional()
      .describe('Background analysis, from `startingStep` until the release ends: a Failed or Error run aborts the release (Argo canary.analysis).'),
    throttle: CanaryThrottle.optional(),
  })
  .describe('Canary strategy: the new revision runs beside stable and gets traffic step by step (Argo Rollouts canary).');

export const BlueGreen = z
  .strictObject({
    previewPort: z
      .number()
      .int({ message: 'a port must be a whole number' })
      .min(1, { message: 'a port must be between 1 and 65535' })
      .max(65535, { message: 'a port must be between 1 and 65535' })
      .optional()
      .describe('Port on 127.0.0.1 where the new revision is reachable before promotion (Argo previewService).'),
    autoPromotionEnabled: z.boolean().default(true).describe('Promote once the preview is ready (and its pre-promotion analysis passed); false waits for `berth release promote`.'),
    autoPromotionSeconds: Count('autoPromotionSeconds').max(86_400, { message: 'must be at most 86400 seconds (one day)' }).optional().describe('Promote this many seconds after the preview is ready, even without promote (Argo autoPromotionSeconds).'),
    prePromotionAnalysis: AnalysisRef.optional().describe('Run against the preview before the switch; the switch waits for Successful (Argo prePromotionAnalysis).'),
    postPromotionAnalysis: AnalysisRef.optional().describe('Run after the switch; Failed or Error switches back (Argo postPromotionAnalysis).'),
    scaleDownDelaySeconds: Count('scaleDownDelaySeconds').max(86_400, { message: 'must be at most 86400 seconds (one day)' }).default(30).describe('Seconds the old revision keeps running after the switch (Argo scaleDownDelaySeconds).'),
  })
  .describe('Blue-green strategy: the new revision runs as a preview beside the active one and takes all traffic at once on promotion (Argo Rollouts blueGreen).');

export const RELEASE_STRATEGIES = ['rolling', 'canary', 'blueGreen'] as const;

export const Release = z
  .strictObject({
    strategy: z.enum(RELEASE_STRATEGIES).default('rolling').describe('rolling (replace instances with the `rollout` budget, the default), canary or blueGreen.'),
    canary: Canary.optional(),
    blueGreen: BlueGreen.optional(),
    rollbackWindow: z
      .strictObject({ revisions: Count('revisions').describe('Going back to one of the last N revisions skips the steps and analysis.') })
      .optional()
      .describe('Fast rollback (Argo rollbackWindow).'),
    revisionHistoryLimit: Count('revisionHistoryLimit').default(10).describe('Revisions of the service kept in the history (Argo revisionHistoryLimit).'),
  })
  .describe('How a new revision of the service is released (Argo Rollouts strategy).');

// --- analysis templates ----------------------------------------------------------------------

export const BerthProvider = z
  .strictObject({
    window: ReleaseDuration.optional().describe('Requests measured: those of the last window (default: the metric\'s interval, or 10s).'),
  })
  .describe('Measured from the mesh sidecars, no Prometheus needed. `result` is { canary, stable } each with errorRate, successRate, p50Ms, p90Ms, p99Ms, rps, requests over the same window.');

const HttpUrl = z.string().regex(/^https?:\/\/[^\s/]+/, { message: 'must be an http:// or https:// URL' });

export const PrometheusProvider = z
  .strictObject({
    address: HttpUrl.describe('Base URL of the Prometheus server (its HTTP API is under /api/v1).'),
    query: z.string().min(1, { message: 'the query must not be empty' }).describe('A PromQL query; a vector gives result as a list of values (result[0]), a scalar as a number.'),
    timeoutSeconds: Count('timeoutSeconds').min(1, { message: 'must be at least 1' }).max(3600, { message: 'must be at most 3600' }).optional().describe('Query timeout (default 10).'),
  })
  .describe('A PromQL instant query against a Prometheus HTTP API (Argo prometheus provider).');

export const WebProvider = z
  .strictObject({
    url: HttpUrl.describe('URL fetched with GET.'),
    headers: z.array(z.strictObject({ key: HeaderName, value: z.string() })).default([]).describe('Request headers (Argo: list of key/value).'),
    timeoutSeconds: Count('timeoutSeconds').min(1, { message: 'must be at least 1' }).max(3600, { message: 'must be at most 3600' }).optional().describe('Request timeout (default 10).'),
    jsonPath: z.string().regex(/^\{?\$[^\s]*\}?$/, { message: 'must be a JSON path like "{$.data.ok}" or "$.data.ok"' }).optional().describe('Part of the JSON answer that becomes result, e.g. "{$.data.ok}" (default: the whole answer).'),
  })
  .describe('An HTTP GET whose JSON answer is result (Argo web provider).');

export const ReplayProvider = z
  .strictObject({
    from: z
      .union([z.string().min(1, { message: 'must not be empty' }), z.strictObject({ lastMinutes: z.number().positive({ message: 'must be above 0' }) })])
      .describe("What to replay: a recording id (`berth record ls`), a HAR file (relative to the app's folder), or { lastMinutes: N } of the service's recordings."),
    rate: z.string().default('max').describe('original, Nx, N/s or max (as `berth replay --rate`).'),
    maxDiffPercent: z.number().min(0).max(100).default(0).describe('Most requests (in %) that may differ for result.passed.'),
    ignore: z.array(z.string()).default([]).describe('JSON paths and header names never compared (as --ignore).'),
    allowSideEffects: z.boolean().default(false).describe('Also replay POST, PUT, PATCH and DELETE.'),
    concurrency: Count('concurrency').min(1, { message: 'must be at least 1' }).default(16),
  })
  .describe("Replays recorded traffic to the canary and diffs its answers with the recording (Berth's replay gate): result is { requests, compared, diffs, diffPercent, failed, passed, maxDiffPercent, endpoints }.");

export const MetricProvider = z
  .strictObject({ berth: BerthProvider.optional(), prometheus: PrometheusProvider.optional(), web: WebProvider.optional(), replay: ReplayProvider.optional() })
  .superRefine(exactlyOne(['berth', 'prometheus', 'web', 'replay']))
  .describe('Where measurements come from: exactly one of berth, prometheus, web, replay.');

export const AnalysisMetric = z
  .strictObject({
    name: Label.describe('Metric name, unique within the template.'),
    interval: ReleaseDuration.optional().describe('Time between measurements (needed when count > 1; without count, measures until the run is stopped).'),
    count: Count('count').min(1, { message: 'count must be at least 1' }).optional().describe('Measurements to take (default: 1 without an interval, unlimited with one).'),
    initialDelay: DelayDuration.optional().describe('Wait before the first measurement.'),
    successCondition: z.string().min(1, { message: 'the condition must not be empty' }).optional().describe('Expression over `result`: true is Successful.'),
    failureCondition: z.string().min(1, { message: 'the condition must not be empty' }).optional().describe('Expression over `result`: true is Failed. Meeting neither condition is Inconclusive.'),
    failureLimit: Count('failureLimit').default(0).describe('Failed measurements tolerated; one more fails the metric (Argo: failed > failureLimit).'),
    inconclusiveLimit: Count('inconclusiveLimit').default(0).describe('Inconclusive measurements tolerated; one more makes the metric Inconclusive.'),
    consecutiveErrorLimit: Count('consecutiveErrorLimit').default(4).describe('Measurements in a row that could not be taken, tolerated; one more makes the metric Error.'),
    provider: MetricProvider,
  })
  .describe('One metric of an analysis template (Argo Rollouts Metric).');

export const AnalysisTemplate = z
  .strictObject({
    metrics: z.array(AnalysisMetric).min(1, { message: 'declare at least one metric' }).describe('Metrics measured together; the run is the worst of their verdicts.'),
  })
  .describe('A named analysis template (Argo Rollouts AnalysisTemplate).');

export const AnalysisTemplates = z.record(Label, AnalysisTemplate).describe('Analysis templates by name, used by `release` steps and analyses.');

export type ReleaseSpec = z.output<typeof Release>;
export type CanarySpec = z.output<typeof Canary>;
export type CanaryStepSpec = z.output<typeof CanaryStep>;
export type BlueGreenSpec = z.output<typeof BlueGreen>;
export type AnalysisTemplateSpec = z.output<typeof AnalysisTemplate>;
export type AnalysisMetricSpec = z.output<typeof AnalysisMetric>;
export type MetricProviderSpec = z.output<typeof MetricProvider>;
export type ReleaseStrategy = (typeof RELEASE_STRATEGIES)[number];
