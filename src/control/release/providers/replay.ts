// The `replay` metric provider (issue 15, the release gate): replays recorded traffic to the
// canary's instances and diffs every answer against the recording.
//   provider: { replay: { from: <recording id | HAR file | { lastMinutes: N }>, rate, maxDiffPercent } }
//   result = { requests, compared, diffs, diffPercent, failed, passed, maxDiffPercent, endpoints: [{ endpoint, diffs, fields }] }
// `passed` is diffPercent <= maxDiffPercent with no request unanswered; a template gates on it with
// `successCondition: result.passed` (or reads diffPercent itself). Run at a step where the canary
// has no user traffic yet (weight 0), the canary sees the recorded traffic before any user does.
// Write requests are skipped unless allowSideEffects. The release controller plugs it in beside
// berth/prometheus/web: `replay: replayProvider(recordingSources(stateDir, world))`.
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { isAbsolute, join } from 'node:path';
import { z } from 'zod';
import { parseRate, readHar, replay, type RecordedExchange } from '../../../replay/index.js';
import type { World } from '../../world.js';
import type { MeasureContext, MeasureFn } from '../providers.js';

export const ReplayProviderSpec = z
  .strictObject({
    from: z
      .union([z.string().min(1), z.strictObject({ lastMinutes: z.number().positive({ message: 'must be above 0' }) })])
      .describe("What to replay: a recording id (`berth record ls`), a HAR file (relative to the app's folder), or { lastMinutes: N } of the service's recordings."),
    rate: z.string().default('max').describe('original, Nx, N/s or max (as `berth replay --rate`).'),
    maxDiffPercent: z.number().min(0).max(100).default(0).describe('Most requests (in %) that may differ for result.passed.'),
    ignore: z.array(z.string()).default([]).describe('JSON paths and header names never compared (as --ignore).'),
    allowSideEffects: z.boolean().default(false).describe('Also replay POST, PUT, PATCH and DELETE.'),
    concurrency: z.number().int().min(1).default(16),
  })
  .describe("Replays recorded traffic to the canary and diffs its answers with the recording (Berth's replay gate).");

export type ReplayProviderSpecIn = z.input<typeof ReplayProviderSpec>;

export interface ReplayGateResult {
  requests: number;
  compared: number;
  diffs: number;
  diffPercent: number;
  failed: number;
  passed: boolean;
  maxDiffPercent: number;
  endpoints: { endpoint: string; requests: number; diffs: number; fields: { path: string; count: number }[] }[];
}

/** Where the provider finds recordings and the canary's instances. */
export interface ReplaySources {
  /** HAR files for `from`, and the earliest start time to keep (lastMinutes). */
  files(service: string, from: z.output<typeof ReplayProviderSpec>['from']): { files: string[]; since?: number };
  /** Base URLs of the ready instances of `service@variant` (their inbound sidecars). */
  endpoints(service: string, variant: string): string[];
}

/** The control plane's sources: recordings under `<stateDir>/recordings/`, ready instances from the world. */
export function recordingSources(stateDir: string, appDir: string, world: World): ReplaySources {
  const root = join(stateDir, 'recordings');
  const harsIn = (dir: string): string[] => (existsSync(dir) ? readdirSync(dir).filter((f) => f.endsWith('.har')).map((f) => join(dir, f)) : []);
  return {
    files(service, from) {
      if (typeof from === 'string') {
        if (/^[\w.-]+$/.test(from) && existsSync(join(root, from))) return { files: harsIn(join(root, from)) };
        return { files: [isAbsolute(from) ? from : join(appDir, from)] };
      }
      // The service's recordings (on demand: index.json; the spec's: spec-<service>), files written in the window.
      const since = Date.now() - from.lastMinutes * 60_000;
      let ids = [`spec-${service}`];
      try {
        const index = JSON.parse(readFileSync(join(root, 'index.json'), 'utf8')) as { service: string; settings: { id: string } }[];
        ids = [...ids, ...index.filter((r) => r.service === service).map((r) => r.settings.id)];
      } catch {
        // Safe to ignore: no on-demand recording was ever made.
      }
      return { files: ids.flatMap((id) => harsIn(join(root, id))).filter((f) => statSync(f).mtimeMs >= since), since };
    },
    endpoints(service, variant) {
      const port = world.spec(service)?.port;
      if (port === undefined) return [];
      return world.readyOf(variant === 'default' ? service : `${service}.${variant}`).map((r) => `http://${r.host}:${port}`);
    },
  };
}

export function replayProvider(sources: ReplaySources): MeasureFn {
  return async (metric, ctx: MeasureContext) => {
    const raw = (metric.provider as Record<string, unknown>).replay;
    const parsed = ReplayProviderSpec.safeParse(raw);
    if (!parsed.success) throw new Error(`provider.replay: ${parsed.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ')}`);
    const spec = parsed.data;
    if (!ctx.canary) throw new Error('the replay provider needs a canary to replay to');
    const bases = sources.endpoints(ctx.service, ctx.canary);
    if (bases.length === 0) throw new Error(`no ready instance of ${ctx.service}@${ctx.canary} to replay to`);
    const { files, since } = sources.files(ctx.service, spec.from);
    const exchanges: RecordedExchange[] = [];
    for (const f of files) exchanges.push(...(await readHar(f)).exchanges);
    const chosen = since === undefined ? exchanges : exchanges.filter((x) => x.startedAt >= since);
    if (chosen.length === 0) throw new Error(`no recorded traffic of ${ctx.service} in ${JSON.stringify(spec.from)}`);
    const r = await replay({
      exchanges: chosen,
      to: { name: `${ctx.service}@${ctx.canary}`, bases: bases.map((b) => new URL(b)) },
      rate: parseRate(spec.rate),
      concurrency: spec.concurrency,
      allowSideEffects: spec.allowSideEffects,
      diff: { ignore: spec.ignore },
      signal: ctx.signal,
    });
    if (ctx.signal.aborted) throw new Error('stopped');
    const rep = r.report;
    if (r.progress.sent === 0) throw new Error('every recorded request was skipped (writes need allowSideEffects)');
    const result: ReplayGateResult = {
      requests: r.progress.sent,
      compared: rep.compared,
      diffs: rep.diffs,
      diffPercent: rep.diffPercent,
      failed: r.progress.failed,
      passed: r.progress.failed === 0 && rep.diffPercent <= spec.maxDiffPercent,
      maxDiffPercent: spec.maxDiffPercent,
      endpoints: rep.endpoints.map((e) => ({ endpoint: e.endpoint, requests: e.requests, diffs: e.diffs, fields: e.fields.map((f) => ({ path: f.path, count: f.count })) })),
    };
    return result;
  };
}
