// Secrets a service uses as files (`secrets: [{ name, file }]`). On a cluster they are a Secret volume
// mounted read-only; locally the node agent writes each one for the instance, readable only by the
// user the app runs as (0400 in a 0700 directory), on a tmpfs (/dev/shm) when there is one so it never
// reaches a disk, and removes them when the instance stops. The app finds each file the same way in
// both places: its path is in BERTH_SECRET_FILE_<NAME> (on the cluster, the mount path).
import { createHash } from 'node:crypto';
import { chmodSync, chownSync, existsSync, mkdirSync, rmdirSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { tmpdir } from 'node:os';
import type { SecretFile } from '../lib/agent-protocol.js';
import { resolveUser } from '../lib/users.js';

/** Where the agent of `stateDir` keeps its instances' secret files (one folder per state dir). */
export function secretFilesRoot(stateDir: string): string {
  return join(secretBase(), `berth-secrets-${createHash('sha256').update(stateDir).digest('hex').slice(0, 16)}`);
}

function secretBase(): string {
  return existsSync('/dev/shm') ? '/dev/shm' : tmpdir();
}

/** Removes a node's secret folder, and the state dir's folder when no other node has one left. */
export function removeNodeSecrets(nodeRoot: string): void {
  rmSync(nodeRoot, { recursive: true, force: true });
  try {
    rmdirSync(dirname(nodeRoot));
  } catch {
    // another node of this state dir still has its folder there (or it is gone already)
  }
}

/** The path of one secret file of an instance (also what its BERTH_SECRET_FILE_<NAME> says). */
export function secretFilePath(root: string, instance: string, name: string): string {
  return join(root, instance, name);
}

/** Writes an instance's secret files, owned by `user` when one is given (resolved as for the spawn). */
export function writeSecretFiles(root: string, instance: string, files: readonly SecretFile[], user: string | undefined): void {
  if (files.length === 0) return;
  mkdirSync(root, { recursive: true });
  // The app's user passes through to its own folder, and lists nothing (the agent's umask is 077).
  for (let p = root; p.length > secretBase().length; p = dirname(p)) chmodSync(p, 0o711);
  const dir = join(root, instance);
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { mode: 0o700 });
  const ids = user !== undefined ? resolveUser(user) : undefined;
  for (const f of files) {
    const path = secretFilePath(root, instance, f.name);
    writeFileSync(path, f.content, { mode: 0o400 });
    if (ids) chownSync(path, ids.uid, ids.gid);
  }
  if (ids) chownSync(dir, ids.uid, ids.gid);
}

/** Removes an instance's secret files. */
export function removeSecretFiles(root: string, instance: string): void {
  rmSync(join(root, instance), { recursive: true, force: true });
}
