// `berth gitops …`: GitOps sources of the running control plane — add, ls, status, sync, history,
// rollback, suspend, resume, rm, promote. The control plane does the work (gitops/ in control);
// this is its client. `add` and `sync` start the control plane when none runs here.
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import type { DriftItem, GitopsStatusView, HistoryEntry, PromoteResult, SyncOutcome } from '../../control/index.js';
import type { GitopsSourceSpec } from '../../contract/index.js';
import { HttpError, requestJson } from '../../lib/http.js';
import { controlClient, requireControl, resolveContext, type ControlClient } from '../context.js';
import { CliError, errors } from '../errors.js';
import { bold, dim, green, red, table, yellow, parseDuration } from '../output.js';

interface Common {
  file?: string;
  json?: boolean;
}

export interface AddFlags extends Common {
  repo?: string;
  branch?: string;
  path?: string;
  env?: string;
  interval?: string;
  autoSync?: boolean;
  selfHeal?: boolean;
  prune?: boolean;
}

/** A local path stays usable from the control plane whatever its working directory: made absolute. */
export function repoArg(repo: string): string {
  const url = /^[a-z][a-z0-9+.-]*:\/\//i.test(repo) || /^[^/]+@[^/:]+:/.test(repo);
  return !url && existsSync(repo) ? resolve(repo) : repo;
}

async function client(o: Common, start: boolean): Promise<ControlClient> {
  const ctx = resolveContext(o.file, false);
  if (start) {
    const { ensureControlPlane } = await import('./up.js');
    return ensureControlPlane(ctx);
  }
  // A folder with no spec whose .berth/ a GitOps source made: its own control plane, never another app's.
  if (!ctx.specFile && existsSync(ctx.stateDir)) {
    const own = controlClient(ctx);
    if (own) return own;
    throw new CliError('BERTH_E_NOT_RUNNING', `no Berth control plane is running for ${process.cwd()}`, 1, 'start it with `berth gitops sync NAME` (or `berth gitops resume NAME`)');
  }
  return requireControl(ctx);
}

/** API failures as CLI errors: 404 → the source does not exist (exit 1), 400 → usage (exit 2). */
async function call<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    if (!(err instanceof HttpError)) throw err;
    const msg = typeof err.body === 'object' && err.body && 'error' in err.body ? String((err.body as { error: unknown }).error) : err.message;
    if (err.status === 400) throw errors.usage(msg);
    throw errors.failed(msg);
  }
}

const del = <T>(c: ControlClient, path: string) => requestJson<T>(c.opts, 'DELETE', path);
const at = (name: string, action = '') => `/api/v1/gitops/${encodeURIComponent(name)}${action ? `/${action}` : ''}`;
const short = (sha: string | null | undefined) => (sha ? sha.slice(0, 7) : '-');

function syncColor(s: string): string {
  return s === 'Synced' ? green(s) : s === 'OutOfSync' ? yellow(s) : dim(s);
}
function healthColor(h: string): string {
  return h === 'Healthy' ? green(h) : h === 'Degraded' || h === 'Missing' ? red(h) : yellow(h);
}

/** As the control plane words drift (control/gitops/drift.ts; only types are imported from there, to keep the CLI light). */
function describeDrift(d: DriftItem): string {
  if (d.field === 'service') return d.live === 'missing' ? `${d.service}: in git, not running` : `${d.service}: running, not in git (requires pruning)`;
  return `${d.service}: ${d.field} ${String(d.live)} (git: ${String(d.git)})`;
}

function printStatus(s: GitopsStatusView): void {
  const lines = [
    `${bold(s.name)}  ${syncColor(s.sync)}  ${healthColor(s.health)}${s.suspended ? `  ${yellow('Suspended (auto-sync off until `berth gitops resume`)')}` : ''}`,
    `  repo      ${s.repo}  branch ${s.branch}${s.path ? `  path ${s.path}` : ''}${s.env ? `  env ${s.env}` : ''}`,
    `  policy    every ${s.interval}${s.autoSync ? ', auto-sync' : ', manual sync'}${s.selfHeal ? ', self-heal' : ''}${s.prune ? ', prune' : ''}`,
    `  running   ${short(s.revision)}${s.message ? ` "${s.message}"` : ''}${s.appliedAt ? dim(` (applied ${s.appliedAt})`) : ''}`,
    `  head      ${short(s.head)}${s.headMessage ? ` "${s.headMessage}"` : ''}`,
  ];
  if (s.lastError) lines.push(`  ${red('error')}     ${s.lastError}`);
  for (const e of s.errors.slice(1)) lines.push(`            ${e}`);
  for (const d of s.drift) {
    lines.push(`  ${yellow('drift')}     ${describeDrift(d)}`);
    for (const f of d.fields ?? []) lines.push(`            ${f.path}: ${JSON.stringify(f.git) ?? '(unset)'} → ${JSON.stringify(f.live) ?? '(unset)'}`);
  }
  if (s.services.length) lines.push(`  services  ${s.services.map((x) => `${x.name} ${healthColor(x.health)}`).join(', ')}`);
  process.stdout.write(lines.join('\n') + '\n');
}

/** `gitops:` in a spec: each source registered (or updated) with the control plane after `up` / `apply`. */
export async function registerSpecSources(c: ControlClient, sources: readonly GitopsSourceSpec[], specDir: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const s of sources) {
    const local = !/^[a-z][a-z0-9+.-]*:\/\//i.test(s.repo) && !/^[^/]+@[^/:]+:/.test(s.repo);
    const repo = local ? resolve(specDir, s.repo) : s.repo;
    Object.assign(out, await call(() => c.post<Record<string, string>>('/api/v1/gitops', { upsert: true, name: s.name, repo, branch: s.branch, path: s.path, env: s.env, intervalMs: s.interval, autoSync: s.autoSync, selfHeal: s.selfHeal, prune: s.prune })));
  }
  return out;
}

export async function add(name: string, o: AddFlags): Promise<void> {
  if (!o.repo) throw errors.usage('--repo URL|PATH is required');
  const intervalMs = parseDuration(o.interval ?? '30s');
  if (intervalMs === undefined || intervalMs <= 0) throw errors.usage(`--interval must be a duration like 30s or 2m, got ${o.interval}`);
  const c = await client(o, true);
  const status = await call(() => c.post<GitopsStatusView>('/api/v1/gitops', { name, repo: repoArg(o.repo!), branch: o.branch, path: o.path, env: o.env, intervalMs, autoSync: !!o.autoSync, selfHeal: !!o.selfHeal, prune: !!o.prune }));
  if (o.json) process.stdout.write(JSON.stringify(status) + '\n');
  else process.stdout.write(`gitops ${name} added: ${status.repo} branch ${status.branch}${o.autoSync ? ' (auto-sync: the branch head is applied within one interval)' : ' (run `berth gitops sync ' + name + '` to apply it)'}\n`);
}

export async function ls(o: Common): Promise<void> {
  const c = await client(o, false);
  const all = await call(() => c.get<GitopsStatusView[]>('/api/v1/gitops'));
  if (o.json) return void process.stdout.write(JSON.stringify(all) + '\n');
  if (all.length === 0) return void process.stdout.write('no GitOps sources (add one with `berth gitops add NAME --repo URL`)\n');
  process.stdout.write(table(['NAME', 'SYNC', 'HEALTH', 'REVISION', 'BRANCH', 'REPO'], all.map((s) => [s.name, syncColor(s.sync), healthColor(s.health), short(s.revision), s.branch + (s.path ? `:${s.path}` : ''), s.repo])) + '\n');
}

export async function status(name: string, o: Common): Promise<void> {
  const c = await client(o, false);
  const s = await call(() => c.get<GitopsStatusView>(at(name)));
  if (o.json) process.stdout.write(JSON.stringify(s) + '\n');
  else printStatus(s);
}

function syncResult(r: { result: SyncOutcome; status: GitopsStatusView }, o: Common, what: string): void {
  if (o.json) process.stdout.write(JSON.stringify(r) + '\n');
  else if (r.result.ok) {
    const changed = r.result.changes.filter((ch) => ch.change !== 'unchanged');
    process.stdout.write(`${what} ${short(r.result.sha)}${r.status.message ? ` "${r.status.message}"` : ''}: ${changed.length ? changed.map((ch) => `${ch.service} ${ch.change}`).join(', ') : 'no change'}\n`);
  }
  if (!r.result.ok) {
    if (!o.json) for (const e of r.result.errors) process.stderr.write(`${e}\n`);
    throw new CliError('BERTH_E_GITOPS_REFUSED', `commit ${short(r.result.sha)} was not applied (${r.result.errors.length} problem${r.result.errors.length === 1 ? '' : 's'}); ${r.status.revision ? `${short(r.status.revision)} keeps running` : 'nothing was applied'}`, 2, 'fix the files named above and commit again');
  }
}

export async function sync(name: string, o: Common): Promise<void> {
  const c = await client(o, true);
  if (process.stderr.isTTY && !o.json) process.stderr.write(dim(`syncing ${name}…\n`, process.stderr));
  const r = await call(() => c.post<{ result: SyncOutcome; status: GitopsStatusView }>(at(name, 'sync')));
  syncResult(r, o, 'applied');
}

export async function history(name: string, o: Common): Promise<void> {
  const c = await client(o, false);
  const h = await call(() => c.get<{ name: string; history: HistoryEntry[] }>(at(name, 'history')));
  if (o.json) return void process.stdout.write(JSON.stringify(h) + '\n');
  if (h.history.length === 0) return void process.stdout.write(`nothing synced by ${name} yet\n`);
  const color = (r: string) => (r === 'Failed' ? red(r) : r === 'Healed' ? yellow(r) : green(r));
  process.stdout.write(table(['WHEN', 'COMMIT', 'RESULT', 'TRIGGER', 'MESSAGE', 'DETAIL'], h.history.map((e) => [e.at, short(e.sha), color(e.result), e.trigger, e.message, e.detail[0] ?? ''])) + '\n');
}

export async function rollback(name: string, sha: string, o: Common): Promise<void> {
  const c = await client(o, false);
  const r = await call(() => c.post<{ result: SyncOutcome; status: GitopsStatusView }>(at(name, 'rollback'), { sha }));
  syncResult(r, o, 'rolled back to');
  if (!o.json) process.stdout.write(dim(`auto-sync of ${name} is suspended until \`berth gitops resume ${name}\`\n`));
}

export async function suspend(name: string, o: Common, resume: boolean): Promise<void> {
  const c = await client(o, resume);
  const s = await call(() => c.post<GitopsStatusView>(at(name, resume ? 'resume' : 'suspend')));
  if (o.json) process.stdout.write(JSON.stringify(s) + '\n');
  else process.stdout.write(`gitops ${name} ${resume ? 'resumed' : 'suspended'}\n`);
}

export async function rm(name: string, o: Common): Promise<void> {
  const c = await client(o, false);
  const r = await call(() => del<{ removed: string }>(c, at(name)));
  if (o.json) process.stdout.write(JSON.stringify(r) + '\n');
  else process.stdout.write(`gitops ${name} removed (what it applied keeps running)\n`);
}

export async function promote(name: string, o: Common & { from?: string; to?: string }): Promise<void> {
  if (!o.from || !o.to) throw errors.usage('--from ENV and --to ENV are required');
  const c = await client(o, false);
  const r = await call(() => c.post<PromoteResult>(at(name, 'promote'), { from: o.from, to: o.to }));
  if (o.json) return void process.stdout.write(JSON.stringify(r) + '\n');
  if (!r.commit) return void process.stdout.write(`${r.to} already has ${short(r.source)}'s content: nothing to promote\n`);
  process.stdout.write(`promoted ${r.from} (${short(r.source)}) → ${r.to}: commit ${short(r.commit)} on branch ${r.branch}${r.path ? ` (${r.path})` : ''}\n`);
  if (r.pushed) process.stdout.write(`pushed to ${r.branch}\n`);
  else process.stderr.write(`${yellow('not pushed', process.stderr)}: ${r.pushError ?? ''} (the commit is on ${r.branch} in Berth's clone)\n`);
}
