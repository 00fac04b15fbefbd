// The `replay` metric provider (issue 15, the release gate): replays recorded traffic to the
// canary's instances and diffs every answer against the recording.
//   provider: { replay: { from: <recording id | HAR file | { lastMinutes: N }>, rate, maxDiffPercent } }
//   result = { requests, compared, diffs, diffPercent, failed, passed, maxDiffPercent, endpoints: [{ endpoint, diffs, fields }] }
// `passed` is diffPercent <= maxDiffPercent with no request unanswered; a template gates on it with
// `successCondition: result.passed` (or reads diffPercent itself). Run at a step where the canary
// has no user traffic yet (weight 0), the canary sees the recorded traffic before any user does.
// Write requests are skipped unless allowSideEffects. The release controller plugs it in beside
// berth/prometheus/web (persist.ts controlPlaneProviders).
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { isAbsolute, join } from 'node:path';
import type { AnalysisMetricSpec } from '../../../contract/index.js';
import { parseRate, readHar, replay, type RecordedExchange } from '../../../replay/index.js';
import type { World } from '../../world.js';
import { endpointVariant } from '../state.js';
import type { MeasureContext, MeasureFn } from '../providers.js';

/** The provider's settings as the contract parsed them (schema-release.ts ReplayProvider). */
export type ReplayProviderSpec = NonNullable<AnalysisMetricSpec['provider']['replay']>;

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
  files(service: string, from: ReplayProviderSpec['from']): { files: string[]; since?: number };
  /** Base URLs of the ready instances of `service@variant` (their inbound sidecars). */
  endpoints(service: string, variant: string): string[];
}

/** The control plane's sources: recordings under `<stateDir>/recordings/`, ready instances from the world. */
/** `appDir` is asked at each measurement: the folder of the spec the control plane runs now. */
export function recordingSources(stateDir: string, appDir: () => string, world: World): ReplaySources {
  const root = join(stateDir, 'recordings');
  const harsIn = (dir: string): string[] => (existsSync(dir) ? readdirSync(dir).filter((f) => f.endsWith('.har')).map((f) => join(dir, f)) : []);
  return {
    files(service, from) {
      if (typeof from === 'string') {
        if (/^[\w.-]+$/.test(from) && existsSync(join(root, from))) return { files: harsIn(join(root, from)) };
        return { files: [isAbsolute(from) ? from : join(appDir(), from)] };
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
      // A release's canary is told apart by revision (endpointVariant), as the mesh labels it; a
      // spec variant (`service.variant`) is a deployment of its own.
      const own = world.readyOf(service).filter((r) => endpointVariant(world, r) === variant);
      const ready = own.length > 0 || variant === 'default' ? own : world.readyOf(`${service}.${variant}`);
      return ready.map((r) => `http://${r.host}:${port}`);
    },
  };
}

export function replayProvider(sources: ReplaySources): MeasureFn {
  return async (metric, ctx: MeasureContext) => {
    const spec = metric.provider.replay;
    if (!spec) throw new Error('not a replay metric');
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
