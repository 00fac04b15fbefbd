// `berth gitops promote NAME --from staging --to prod`: a commit that moves the tested revision to the
// next environment, so promotion itself is a reviewed change in the repository. Environments are
// either branches (the source watches branch `from`: the target branch gets a commit whose tree is
// the tested commit's) or folders (the source's path ends in `from`: the sibling folder `to` on the
// same branch gets the tested folder's content). The commit is made in Berth's clone, on the target
// branch, and pushed when the remote allows; a refused push is reported and the commit kept locally.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import type { GitopsController } from './controller.js';
import { fetchBranch, git, redactUrl, resolveCommit, trackingRef } from './git.js';

export interface PromoteResult {
  name: string;
  from: string;
  to: string;
  /** `branch`: environments are branches; `folder`: folders on one branch. */
  mode: 'branch' | 'folder';
  /** The tested commit promoted (the one the source applied, or the head of `from`). */
  source: string;
  /** The new commit on the target branch; null when the target already had that content. */
  commit: string | null;
  branch: string;
  path: string;
  pushed: boolean;
  pushError: string | null;
}

const bad = (message: string, status = 400) => Object.assign(new Error(message), { status });

/** Author identity for the promotion commit: git's own configuration when it has one, else Berth's. */
async function identity(bare: string): Promise<Record<string, string>> {
  const name = await git(['-C', bare, 'config', '--get', 'user.name']).catch(() => '');
  if (name.trim() !== '') return {};
  return { GIT_AUTHOR_NAME: 'Berth GitOps', GIT_AUTHOR_EMAIL: 'berth@localhost', GIT_COMMITTER_NAME: 'Berth GitOps', GIT_COMMITTER_EMAIL: 'berth@localhost' };
}

export function promote(gitops: GitopsController, name: string, from: string, to: string): Promise<PromoteResult> {
  const c = gitops.records.config(name);
  if (!c) throw bad(`no GitOps source named "${name}" (see \`berth gitops ls\`)`, 404);
  return gitops.exclusive(name, async () => {
    const { bare } = gitops.paths(name);
    const st = gitops.records.state(name);
    const folderMode = c.path !== '' && basename(c.path) === from;
    const mode = folderMode ? 'folder' : 'branch';
    const targetBranch = folderMode ? c.branch : to;
    const srcPath = folderMode ? c.path : '';
    const dstPath = folderMode ? join(dirname(c.path) === '.' ? '' : dirname(c.path), to) : '';
    // The tested revision: what this source runs when it watches `from`, else the head of branch `from`.
    let source: string | undefined;
    if (folderMode || c.branch === from) source = st.revision;
    else source = await fetchBranch(bare, c.repo, from).catch(() => undefined);
    if (!source) throw bad(folderMode || c.branch === from ? `gitops ${name} has applied nothing yet: there is no tested revision of ${from} to promote` : `no branch "${from}" in ${redactUrl(c.repo)} (environments are branches, or folders when --path ends in the environment's name)`);
    let target: string | undefined;
    try {
      target = await fetchBranch(bare, c.repo, targetBranch);
    } catch {
      target = undefined; // a new branch: the promotion commit is its first
    }
    if (!folderMode && target === undefined && !(await resolveCommit(bare, source))) throw bad(`commit ${source} is not in Berth's clone`);
    const env = await identity(bare);
    const index = mkdtempSync(join(tmpdir(), 'berth-promote-'));
    let tree: string;
    try {
      // An index of its own, and an empty work tree (read-tree --prefix and rm --cached want one; neither touches it).
      const ienv = { ...env, GIT_INDEX_FILE: join(index, 'index'), GIT_WORK_TREE: index };
      if (folderMode) {
        if (target) await git(['-C', bare, 'read-tree', target], { env: ienv });
        else await git(['-C', bare, 'read-tree', '--empty'], { env: ienv });
        await git(['-C', bare, 'rm', '-r', '--cached', '--quiet', '--ignore-unmatch', '--', dstPath], { env: ienv });
        await git(['-C', bare, 'read-tree', `--prefix=${dstPath}/`, `${source}:${srcPath}`], { env: ienv });
        tree = (await git(['-C', bare, 'write-tree'], { env: ienv })).trim();
      } else {
        tree = (await git(['-C', bare, 'rev-parse', `${source}^{tree}`])).trim();
      }
    } finally {
      rmSync(index, { recursive: true, force: true });
    }
    const targetTree = target ? (await git(['-C', bare, 'rev-parse', `${target}^{tree}`])).trim() : undefined;
    const result = { name, from, to, mode, source, branch: targetBranch, path: dstPath } as const;
    if (tree === targetTree) return { ...result, commit: null, pushed: false, pushError: null };
    const message = `promote ${from} → ${to}: ${source.slice(0, 12)}${st.message && (folderMode || c.branch === from) ? ` (${st.message})` : ''}\n\nPromoted by \`berth gitops promote ${name} --from ${from} --to ${to}\`.\nSource: ${from}${srcPath ? ` (${srcPath})` : ''} at ${source}\n`;
    const commit = (await git(['-C', bare, 'commit-tree', tree, ...(target ? ['-p', target] : []), '-F', '-'], { env, input: message })).trim();
    // The local commit on the target branch (Berth's clone), then the push.
    await git(['-C', bare, 'update-ref', `refs/heads/${targetBranch}`, commit]);
    let pushError: string | null = null;
    try {
      await git(['-C', bare, 'push', '--quiet', c.repo, `${commit}:refs/heads/${targetBranch}`]);
      await git(['-C', bare, 'update-ref', trackingRef(targetBranch), commit]);
    } catch (err) {
      pushError = (err as Error).message;
    }
    return { ...result, commit, pushed: pushError === null, pushError };
  });
}
