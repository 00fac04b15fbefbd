// A GitOps source's policy report (`GET /api/v1/gitops/:name/policy`): `berth policy report` of the
// commit running, read from the working tree the apps run from, with files relative to the repository.
// The spec tools are imported on first use, as in source.ts.
import { isAbsolute, relative } from 'node:path';
import type { PolicyReport } from '../../contract/index.js';
import type { GitopsController } from './controller.js';
import { specLocation } from './source.js';

export type GitopsPolicyReport = { name: string; revision: string | null } & ({ report: PolicyReport; errors: [] } | { report: null; errors: string[] });

/** The last report per source: a commit's report does not change, and the dashboard asks after every change. */
const cache = new WeakMap<GitopsController, Map<string, { key: string; report: GitopsPolicyReport }>>();

export async function gitopsPolicyReport(gitops: GitopsController, name: string): Promise<GitopsPolicyReport> {
  const c = gitops.records.config(name);
  if (!c) throw Object.assign(new Error(`no GitOps source named "${name}" (see \`berth gitops ls\`)`), { status: 404 });
  const revision = gitops.records.state(name).revision ?? null;
  if (revision === null) return { name, revision, report: null, errors: ['no commit applied yet'] };
  const key = JSON.stringify([revision, c.path, c.env ?? null]);
  const mine = cache.get(gitops) ?? new Map<string, { key: string; report: GitopsPolicyReport }>();
  cache.set(gitops, mine);
  const hit = mine.get(name);
  if (hit?.key === key) return hit.report;
  const report = await build(gitops, name, c.path, c.env, revision);
  mine.set(name, { key, report });
  return report;
}

async function build(gitops: GitopsController, name: string, path: string, env: string | undefined, revision: string): Promise<GitopsPolicyReport> {
  const root = gitops.paths(name).work;
  const { loadSpec, checkPolicies, formatSpecErrors, policyReport } = await import('../../contract/index.js');
  const res = await loadSpec(specLocation(root, path), { env: env });
  if (!res.ok) return { name, revision, report: null, errors: res.errors.map((e) => formatSpecErrors([e], { relativeTo: root }).split('\n')[0]) };
  const check = checkPolicies({ spec: res.spec, file: res.file, dir: res.dir, env: env, locator: res.locator, baseLocator: res.baseLocator });
  if (check.errors.length > 0) return { name, revision, report: null, errors: check.errors.map((e) => formatSpecErrors([e], { relativeTo: root }).split('\n')[0]) };
  const rel = (file: string) => {
    const r = relative(root, file);
    return r !== '' && !r.startsWith('..') && !isAbsolute(r) ? r : file;
  };
  return { name, revision, report: policyReport(res.spec, check, env, rel), errors: [] };
}
