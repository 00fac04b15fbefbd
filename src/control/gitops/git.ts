// The `git` binary, as the GitOps controller uses it: any URL git understands (a local path too), with
// git's own credentials configuration; never an interactive prompt. Every call has a deadline.
import { execFile, spawn } from 'node:child_process';
import { existsSync, mkdirSync, rmSync } from 'node:fs';

const GIT_TIMEOUT_MS = 60_000;

export class GitError extends Error {}

/** A URL's password or token (`https://user:secret@host/…`) never shown: in status, events and errors. */
export function redactUrl(text: string): string {
  return text.replace(/([a-z][a-z0-9+.-]*:\/\/[^/@\s:]*):[^/@\s]*@/gi, '$1:***@');
}

/**
 * Runs git with a normal umask (the control plane's is private, and the working tree is what the
 * apps run from) and without prompting for credentials.
 */
export function git(args: string[], opts: { cwd?: string; input?: string; env?: Record<string, string> } = {}): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = execFile(
      '/bin/sh',
      ['-c', 'umask 022 && exec git "$@"', 'git', ...args],
      { cwd: opts.cwd, timeout: GIT_TIMEOUT_MS, maxBuffer: 16 << 20, env: { ...process.env, GIT_TERMINAL_PROMPT: '0', GIT_ASKPASS: 'true', LC_ALL: 'C', ...opts.env } },
      (err, stdout, stderr) => {
        if (err) reject(new GitError(redactUrl(`git ${args[0] === '-C' ? args.slice(2, 3).join(' ') : args[0]}: ${(stderr || err.message).trim().split('\n').slice(-3).join('; ')}`)));
        else resolve(stdout);
      },
    );
    if (opts.input !== undefined) child.stdin?.end(opts.input);
  });
}

/** A bare repository that fetches from `repo` (created on first use). */
export async function ensureBare(dir: string): Promise<void> {
  if (existsSync(`${dir}/HEAD`)) return;
  mkdirSync(dir, { recursive: true });
  await git(['init', '--quiet', '--bare', dir]);
}

/** The remote-tracking ref `branch` is fetched into. */
export const trackingRef = (branch: string) => `refs/remotes/origin/${branch}`;

/** Fetches `branch` of `repo` into `bare`; returns the commit it points at. */
export async function fetchBranch(bare: string, repo: string, branch: string): Promise<string> {
  await git(['-C', bare, 'fetch', '--quiet', '--force', '--no-tags', repo, `+refs/heads/${branch}:${trackingRef(branch)}`]);
  return (await git(['-C', bare, 'rev-parse', `${trackingRef(branch)}^{commit}`])).trim();
}

/** A full commit id for a SHA or prefix the repository holds; undefined when it holds none. */
export async function resolveCommit(bare: string, rev: string): Promise<string | undefined> {
  if (!/^[0-9a-f]{4,40}$/i.test(rev)) return undefined;
  try {
    return (await git(['-C', bare, 'rev-parse', '--verify', '--quiet', `${rev}^{commit}`])).trim() || undefined;
  } catch {
    return undefined;
  }
}

export interface CommitInfo {
  sha: string;
  /** The subject line. */
  message: string;
  author: string;
  /** Committer date, ISO 8601. */
  at: string;
}

export async function commitInfo(bare: string, sha: string): Promise<CommitInfo> {
  const out = await git(['-C', bare, 'show', '-s', '--format=%H%x00%s%x00%an%x00%cI', sha]);
  const [full, message, author, at] = out.trim().split('\0');
  return { sha: full, message: message ?? '', author: author ?? '', at: at ?? '' };
}

/** Writes the tree of `sha` into an empty `dest` (git archive | tar): a candidate checked before anything runs from it. */
export async function exportTree(bare: string, sha: string, dest: string): Promise<void> {
  rmSync(dest, { recursive: true, force: true });
  mkdirSync(dest, { recursive: true });
  await new Promise<void>((resolve, reject) => {
    const archive = spawn('git', ['-C', bare, 'archive', '--format=tar', sha], { stdio: ['ignore', 'pipe', 'pipe'] });
    const tar = spawn('tar', ['-x', '-C', dest], { stdio: ['pipe', 'ignore', 'pipe'] });
    let err = '';
    archive.stderr.on('data', (d: Buffer) => (err += d.toString()));
    tar.stderr.on('data', (d: Buffer) => (err += d.toString()));
    archive.stdout.pipe(tar.stdin);
    let done = 0;
    let failed = false;
    const finish = (code: number | null) => {
      if (code !== 0) failed = true;
      if (++done < 2) return;
      if (failed) reject(new GitError(`git archive ${sha.slice(0, 7)}: ${err.trim() || 'failed'}`));
      else resolve();
    };
    archive.on('close', finish);
    tar.on('close', finish);
  });
}

/**
 * Moves the working tree the apps run from to `sha` (a worktree of the bare repository, detached);
 * untracked files are removed except `.berth/` (the spec's volumes live there).
 */
export async function checkoutWork(bare: string, work: string, sha: string): Promise<void> {
  // A working tree whose repository is gone (removed by hand, another version) is made again.
  const valid = existsSync(`${work}/.git`) && (await git(['-C', work, 'rev-parse', '--git-dir']).then(() => true, () => false));
  if (!valid) {
    rmSync(work, { recursive: true, force: true });
    await git(['-C', bare, 'worktree', 'prune']);
    await git(['-C', bare, 'worktree', 'add', '--quiet', '--force', '--detach', work, sha]);
    return;
  }
  await git(['-C', work, 'checkout', '--quiet', '--force', '--detach', sha]);
  await git(['-C', work, 'clean', '-fdq', '-e', '.berth']);
}
