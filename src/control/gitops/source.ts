// A commit's spec, checked as `berth apply` checks it: load (parse, validate, environment overlay),
// then the policies (the spec's `policies:` and the `*.policy.yaml` beside it). Problems come back as
// `file:line:col: …` lines with the file relative to the repository's root. The spec tools are
// imported on first use: a control plane without a GitOps source never loads them.
import { isAbsolute, join, relative } from 'node:path';
import type { SpecError } from '../../contract/index.js';
import type { DesiredState } from '../../plan/index.js';

export type Checked =
  | { ok: true; desired: DesiredState; warnings: string[]; specFile: string }
  | { ok: false; errors: string[] };

/** Where the spec is: `path` inside the tree at `root` (a folder holding berth.yaml, or a spec file). */
export function specLocation(root: string, path: string): string {
  return path === '' || path === '.' ? root : join(root, path);
}

/** One `file:line:col: …` line per error (without formatSpecErrors' closing count). */
function lines(format: (errors: SpecError[], o: { relativeTo: string }) => string, errors: SpecError[], root: string): string[] {
  return errors.map((e) => format([e], { relativeTo: root }).split('\n')[0]);
}

function relativeTo(root: string): (file: string) => string {
  return (file) => {
    const r = relative(root, file);
    return r !== '' && !r.startsWith('..') && !isAbsolute(r) ? r : file;
  };
}

/**
 * Loads, validates, checks policies and compiles the spec in the tree at `root`. A commit is checked in a
 * candidate tree first, then compiled again from the working tree the apps run from (paths and revisions
 * are the working tree's, so an unchanged service keeps its revision from commit to commit).
 */
export async function checkTree(root: string, path: string, env: string | undefined, restartGenerations: Record<string, number>): Promise<Checked> {
  const { loadSpec, checkPolicies, formatSpecErrors, formatViolation } = await import('../../contract/index.js');
  const { compile } = await import('../../plan/index.js');
  const res = await loadSpec(specLocation(root, path), { env });
  const rel = relativeTo(root);
  if (!res.ok) return { ok: false, errors: lines(formatSpecErrors, res.errors, root) };
  const policy = checkPolicies({ spec: res.spec, file: res.file, dir: res.dir, env, locator: res.locator, baseLocator: res.baseLocator });
  if (policy.errors.length > 0) return { ok: false, errors: lines(formatSpecErrors, policy.errors, root) };
  const vs = policy.evaluation.violations;
  const found = vs.map((v) => formatViolation(v, rel));
  // Refused: the enforced violations first (they are why), then the audited ones.
  if (policy.evaluation.blocked) return { ok: false, errors: [...found.filter((_, i) => vs[i].result === 'fail'), ...found.filter((_, i) => vs[i].result !== 'fail')] };
  try {
    const desired = compile(res.spec, { dir: res.dir, specFile: res.file, env, restartGenerations });
    return { ok: true, desired, warnings: [...lines(formatSpecErrors, res.warnings, root), ...found], specFile: rel(res.file) };
  } catch (err) {
    return { ok: false, errors: [`${rel(res.file)}: ${(err as Error).message}`] };
  }
}
