// `berth release status|promote|abort|retry|undo SERVICE`: a canary or blue-green release as the
// control plane's release controller runs it (issue 14 point 4).
import type { ReleaseStatus } from '../../control/index.js';
import { requireControl, resolveContext } from '../context.js';
import { errors } from '../errors.js';
import { bold, dim, green, red, table, useColor, yellow } from '../output.js';

const NAME = /^[a-z][a-z0-9-]*$/;

function apiError(err: unknown): never {
  const e = err as { status?: number; body?: { error?: string } };
  if (e.status === 400) throw errors.usage(e.body?.error ?? String(err));
  if (e.status === 404 || e.status === 409) throw errors.failed(e.body?.error ?? String(err), e.status === 404 ? 'see `berth ps` for the services' : `see \`berth release status\``);
  throw err;
}

function client(service: string, file: string | undefined) {
  if (!NAME.test(service)) throw errors.usage(`"${service}" is not a service name`, 'e.g. berth release status web');
  return requireControl(resolveContext(file, false));
}

function bar(percent: number, width = 20): string {
  const full = Math.round((percent / 100) * width);
  return `[${'#'.repeat(full)}${'.'.repeat(width - full)}]`;
}

function phaseText(p: ReleaseStatus['phase']): string {
  if (p === null) return dim('no release');
  if (p === 'Healthy') return green(p);
  if (p === 'Degraded') return red(p);
  return p === 'Paused' ? yellow(p) : p;
}

export function renderStatus(s: ReleaseStatus, tty: boolean): string {
  const lines = [
    `${bold(s.service)}  strategy ${s.strategy}  ${phaseText(s.phase)}`,
  ];
  if (s.phase !== null) {
    if (s.step !== null) lines.push(`step       ${Math.min(s.step + 1, s.steps)}/${s.steps}${s.step >= s.steps ? ' (all done)' : ''}${tty ? `  ${bar(s.steps === 0 ? 100 : (Math.min(s.step, s.steps) / s.steps) * 100)}` : ''}`);
    lines.push(`weights    stable ${s.weights.stable}%  canary ${s.weights.canary}%${tty ? `  ${bar(s.weights.canary)}` : ''}`);
    lines.push(`stable     ${s.stableRevision ?? '-'}  (${s.instances.stable.ready}/${s.instances.stable.live} ready)`);
    lines.push(`canary     ${s.canaryRevision ?? '-'}  (${s.instances.canary.ready}/${s.instances.canary.live} ready)`);
    if (s.headerRoutes.length > 0) lines.push(`routes     ${s.headerRoutes.join(', ')}`);
    if (s.pauseUntil) lines.push(`paused     until ${s.pauseUntil}`);
    if (s.message) lines.push(`message    ${s.message}`);
  }
  if (s.shadow) lines.push('', ...renderShadow(s.shadow));
  for (const run of s.analysisRuns) {
    lines.push('', `analysis ${run.id}  ${run.phase}${run.message ? `  ${run.message}` : ''}`);
    lines.push(
      table(
        ['METRIC', 'PHASE', 'COUNT', 'OK', 'FAILED', 'INCONCL', 'ERROR', 'LAST'],
        run.metrics.map((m) => {
          const last = m.measurements.at(-1);
          return [m.name, m.phase, String(m.count), String(m.successful), String(m.failed), String(m.inconclusive), String(m.error), last ? `${last.phase}${last.message ? ` ${last.message}` : ''}` : '-'];
        }),
      ),
    );
  }
  return lines.join('\n') + '\n';
}

/** The mirrored requests' diff: totals, then per route the counts and the fields that differed most. */
function renderShadow(sh: NonNullable<ReleaseStatus['shadow']>): string[] {
  const pct = sh.differingPercent === null ? '' : ` (${sh.differingPercent}%)`;
  const lines = [`shadow     ${sh.compared} compared  ${sh.differing > 0 ? yellow(`${sh.differing} differing${pct}`) : `0 differing${pct}`}  ${sh.errors} errors  (${sh.proxies} proxies${sh.final ? ', final' : ''})`];
  if (sh.routes.length === 0) return lines;
  const fields = (r: (typeof sh.routes)[number]) =>
    r.topFields
      .slice(0, 3)
      .map((f) => `${f.path} ×${f.count} (${f.expected.slice(0, 24)} → ${f.actual.slice(0, 24)})`)
      .join(', ') || '-';
  lines.push(
    table(
      ['ROUTE', 'STEP', 'COMPARED', 'DIFFERING', 'ERRORS', 'TOP FIELDS'],
      sh.routes.map((r) => [r.route, r.step !== null ? String(r.step + 1) : '-', String(r.compared), String(r.differing), String(r.errors), fields(r)]),
    ),
  );
  return lines;
}

export async function status(service: string, o: { file?: string; json?: boolean; watch?: boolean }): Promise<void> {
  const c = client(service, o.file);
  const tty = useColor(process.stdout) || !!process.stdout.isTTY;
  for (;;) {
    const s = await c.get<ReleaseStatus>(`/api/v1/release/${encodeURIComponent(service)}`).catch(apiError);
    if (o.json) process.stdout.write(JSON.stringify(s) + '\n');
    else process.stdout.write((o.watch && process.stdout.isTTY ? '\x1b[2J\x1b[H' : '') + renderStatus(s, tty));
    if (!o.watch) return;
    // --watch ends with the release (promoted and switched, or aborted).
    if (s.phase === null || s.phase === 'Degraded' || (s.phase === 'Healthy' && s.stableRevision === null)) return;
    await new Promise((r) => setTimeout(r, 1000));
    if (!o.json && !process.stdout.isTTY) process.stdout.write('\n');
  }
}

export async function action(verb: 'promote' | 'abort' | 'retry', service: string, o: { file?: string; json?: boolean; full?: boolean }): Promise<void> {
  const c = client(service, o.file);
  const s = await c.post<ReleaseStatus>(`/api/v1/release/${encodeURIComponent(service)}/${verb}`, verb === 'promote' ? { full: o.full === true } : {}).catch(apiError);
  if (o.json) {
    process.stdout.write(JSON.stringify(s) + '\n');
    return;
  }
  const what = verb === 'promote' ? (o.full ? 'promoted (every remaining step skipped)' : 'promoted to the next step') : verb === 'abort' ? 'aborted: stable serves every request' : 'retried from the first step';
  process.stdout.write(`${service}: ${s.canaryRevision ?? ''} ${what} (${s.phase}, canary ${s.weights.canary}%)\n`);
}

export async function undo(service: string, o: { file?: string; json?: boolean; toRevision?: string }): Promise<void> {
  let to: number | undefined;
  if (o.toRevision !== undefined) {
    if (!/^[1-9]\d*$/.test(o.toRevision)) throw errors.usage(`--to-revision takes a revision number, got "${o.toRevision}"`, 'see `berth history SERVICE`');
    to = Number(o.toRevision);
  }
  const c = client(service, o.file);
  const r = await c.post<{ service: string; number: number; revision: string; skippedSteps: boolean }>(`/api/v1/release/${encodeURIComponent(service)}/undo`, to !== undefined ? { toRevision: to } : {}).catch(apiError);
  if (o.json) {
    process.stdout.write(JSON.stringify(r) + '\n');
    return;
  }
  process.stdout.write(`${service}: back to ${r.revision} as revision ${r.number}${r.skippedSteps ? ' (no steps: within the rollback window or back to stable)' : ' (released through the steps)'}\n`);
}

