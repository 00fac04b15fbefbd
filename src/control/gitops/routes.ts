// The GitOps part of the control plane's API (admin token only):
//   GET    /api/v1/gitops                     → GitopsStatusView[]
//   POST   /api/v1/gitops {name, repo, branch?, path?, env?, intervalMs?, autoSync?, selfHeal?, prune?, upsert?} → GitopsStatusView
//          (upsert: from a spec's `gitops:`; → { [name]: created | updated | unchanged })
//   GET    /api/v1/gitops/:name               → GitopsStatusView
//   DELETE /api/v1/gitops/:name               → { removed }
//   GET    /api/v1/gitops/:name/history       → { name, history: HistoryEntry[] } (oldest first)
//   GET    /api/v1/gitops/:name/policy        → GitopsPolicyReport (`berth policy report` of the commit running)
//   POST   /api/v1/gitops/:name/sync          → { result: SyncOutcome, status }
//   POST   /api/v1/gitops/:name/refresh       → 202 { refreshing } (the webhook: fetch now)
//   POST   /api/v1/gitops/:name/rollback {sha} → { result, status }
//   POST   /api/v1/gitops/:name/{suspend,resume} → GitopsStatusView
//   POST   /api/v1/gitops/:name/promote {from, to} → PromoteResult
import type http from 'node:http';
import { isAbsolute } from 'node:path';
import type { GitopsController } from './controller.js';
import type { GitopsConfig } from './records.js';
import { promote } from './promote.js';
import { gitopsPolicyReport } from './policy.js';

type Send = (res: http.ServerResponse, status: number, body: unknown) => void;

const NAME = /^[a-z]([-a-z0-9]*[a-z0-9])?$/;
const BRANCH = /^(?!-)(?!.*\.\.)(?!.*\/\/)[A-Za-z0-9._/-]+(?<![./])$/;
export const MIN_INTERVAL_MS = 100;

/** Checks an `add` body; returns the config or the first problem. */
export function parseConfig(body: Record<string, unknown>): GitopsConfig | string {
  const str = (k: string) => (body[k] === undefined || body[k] === null ? undefined : typeof body[k] === 'string' ? (body[k] as string) : null);
  const name = str('name');
  if (!name || !NAME.test(name)) return `name must be a DNS-1123 label (lowercase letters, digits, '-'), got ${JSON.stringify(body.name)}`;
  const repo = str('repo');
  if (!repo) return 'repo must be a URL git understands or a local path';
  const branch = str('branch') ?? 'main';
  if (branch === null || !BRANCH.test(branch)) return `branch ${JSON.stringify(body.branch)} is not a valid branch name`;
  const rawPath = str('path');
  // `./apps/` → `apps`; `.` → the root.
  const path = rawPath === null ? null : (rawPath ?? '').replace(/^(\.\/)+/, '').replace(/\/+$/, '').replace(/^\.$/, '');
  if (path === null || isAbsolute(path) || path.split('/').includes('..')) return `path must be a folder or spec file inside the repository, got ${JSON.stringify(body.path)}`;
  const env = str('env');
  if (env === null || (env !== undefined && !NAME.test(env))) return `env must be an environment name, got ${JSON.stringify(body.env)}`;
  const intervalMs = body.intervalMs === undefined ? 30_000 : Number(body.intervalMs);
  if (!Number.isFinite(intervalMs) || intervalMs < MIN_INTERVAL_MS) return `interval must be at least ${MIN_INTERVAL_MS} ms`;
  const flag = (k: string) => body[k] === true;
  return { name, repo, branch, path, ...(env ? { env } : {}), intervalMs, autoSync: flag('autoSync'), selfHeal: flag('selfHeal'), prune: flag('prune') };
}

async function readJson(req: http.IncomingMessage): Promise<Record<string, unknown>> {
  let text = '';
  for await (const c of req) {
    text += (c as Buffer).toString('utf8');
    if (text.length > 1 << 16) throw new Error('request body too large');
  }
  if (text.trim() === '') return {};
  const v: unknown = JSON.parse(text);
  if (!v || typeof v !== 'object' || Array.isArray(v)) throw new Error('request body must be a JSON object');
  return v as Record<string, unknown>;
}

const REFRESH = /^\/api\/v1\/gitops\/([^/]+)\/refresh$/;

/**
 * A webhook call made with a source's own token (not the admin token): allowed for that source's
 * refresh route only. Answers it and returns true; false when it is not such a call.
 */
export function handleWebhook(gitops: GitopsController, req: http.IncomingMessage, res: http.ServerResponse, send: Send): boolean {
  const m = REFRESH.exec(new URL(req.url ?? '/', 'http://localhost').pathname);
  const auth = req.headers.authorization;
  const given = auth?.startsWith('Bearer ') ? auth.slice(7).trim() : '';
  if (!m || req.method !== 'POST' || !given) return false;
  let name: string;
  try {
    name = decodeURIComponent(m[1]);
  } catch {
    return false;
  }
  if (!gitops.webhookAllowed(name, given)) return false;
  gitops.refresh(name);
  send(res, 202, { refreshing: name });
  return true;
}

/** Handles a /api/v1/gitops request; false when the path is not one of these. */
export async function handleGitopsApi(gitops: GitopsController, req: http.IncomingMessage, res: http.ServerResponse, path: string, send: Send): Promise<boolean> {
  if (path !== '/api/v1/gitops' && !path.startsWith('/api/v1/gitops/')) return false;
  const method = req.method ?? 'GET';
  const reply = (status: number, body: unknown): true => {
    send(res, status, body);
    return true;
  };
  try {
    if (path === '/api/v1/gitops') {
      if (method === 'GET') return reply(200, gitops.list());
      if (method !== 'POST') return reply(405, { error: `${method} not allowed` });
      const body = await readJson(req);
      const upsert = body.upsert === true;
      const c = parseConfig(body);
      if (typeof c === 'string') return reply(400, { error: c });
      if (upsert) return reply(200, { [c.name]: gitops.upsert(c) });
      gitops.add(c);
      return reply(201, gitops.status(c.name));
    }
    const m = /^\/api\/v1\/gitops\/([^/]+)(?:\/(history|policy|sync|refresh|rollback|suspend|resume|promote))?$/.exec(path);
    if (!m) return reply(404, { error: `no route for ${method} ${path}` });
    const name = decodeURIComponent(m[1]);
    const action = m[2];
    if (!action) {
      if (method === 'GET') return reply(200, gitops.status(name));
      if (method === 'DELETE') {
        gitops.remove(name);
        return reply(200, { removed: name });
      }
      return reply(405, { error: `${method} not allowed` });
    }
    if (action === 'policy') return method === 'GET' ? reply(200, await gitopsPolicyReport(gitops, name)) : reply(405, { error: `${method} not allowed` });
    if (action === 'history') return method === 'GET' ? reply(200, { name, history: gitops.history(name) }) : reply(405, { error: `${method} not allowed` });
    if (method !== 'POST') return reply(405, { error: `${method} not allowed` });
    const body = await readJson(req);
    if (action === 'refresh') {
      gitops.refresh(name);
      return reply(202, { refreshing: name });
    }
    if (action === 'suspend' || action === 'resume') return reply(200, gitops.setSuspended(name, action === 'suspend'));
    if (action === 'sync') {
      const result = await gitops.sync(name);
      return reply(200, { result, status: gitops.status(name) });
    }
    if (action === 'rollback') {
      if (typeof body.sha !== 'string' || body.sha === '') return reply(400, { error: 'expected {"sha": string}' });
      const result = await gitops.rollback(name, body.sha);
      return reply(200, { result, status: gitops.status(name) });
    }
    if (typeof body.from !== 'string' || typeof body.to !== 'string' || body.from === body.to) return reply(400, { error: 'expected {"from": env, "to": another env}' });
    return reply(200, await promote(gitops, name, body.from, body.to));
  } catch (err) {
    return reply((err as { status?: number }).status ?? (err instanceof SyntaxError ? 400 : 500), { error: (err as Error).message });
  }
}
