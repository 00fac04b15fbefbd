// Persistent volumes of an instance (`services.<s>.volumes`), locally: one directory per volume
// under `.berth/volumes/<service>/<volume>`, created by the node agent before the app starts and
// never removed by Berth (restarts, rollouts and `berth down` keep it; deleting `.berth/` resets it).
// When the app runs as another user than the agent (`nobody` under root), the directory is that
// user's, mode 0700: another app's user cannot read it. Its parents up to `.berth/` are then 0711,
// so the app's user can pass through them without listing anything (every other file there stays
// 0600/0700, see lib/private-dir.ts).
import { chmodSync, chownSync, lchownSync, lstatSync, mkdirSync, readdirSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import type { VolumeDir } from '../lib/agent-protocol.js';
import { resolveUser } from '../lib/users.js';

/** Mode of the folders between `.berth/` and a volume owned by another user: pass through, list nothing. */
export const PASS_THROUGH_MODE = 0o711;

/** Creates each volume's directory (kept if it exists), owned by `user` (resolved as for the spawn); throws an Error naming the volume. */
export function prepareVolumeDirs(stateDir: string, volumes: readonly VolumeDir[], user: string | undefined): void {
  const root = resolve(stateDir);
  const ids = user !== undefined ? resolveUser(user) : undefined;
  const foreign = ids !== undefined && ids.uid !== process.getuid?.();
  for (const v of volumes) {
    const dir = resolve(v.dir);
    const rel = relative(root, dir);
    if (rel === '' || rel.startsWith('..') || rel.startsWith(sep)) throw new Error(`volume \`${v.name}\`: ${dir} is not under the state directory ${root}`);
    try {
      mkdirSync(dir, { recursive: true, mode: 0o700 });
      const st = lstatSync(dir);
      if (!st.isDirectory()) throw new Error(`${dir} is not a directory`);
      if (!foreign) continue;
      // The volume changes hands (a new `user:`): what the previous user wrote goes with it, as a
      // pod's fsGroup does on a cluster. Otherwise what the app wrote inside is its own business.
      if (st.uid !== ids.uid || st.gid !== ids.gid) handOver(dir, st.uid, ids.uid, ids.gid);
      if ((st.mode & 0o777) !== 0o700) chmodSync(dir, 0o700);
      for (let p = dirname(dir); ; p = dirname(p)) {
        if ((lstatSync(p).mode & 0o777) !== PASS_THROUGH_MODE) chmodSync(p, PASS_THROUGH_MODE);
        if (p === root || p === dirname(p)) break;
      }
    } catch (err) {
      throw new Error(`volume \`${v.name}\` (${dir}): ${(err as Error).message}`);
    }
  }
}

/** Gives `dir` and everything in it that `from` owned to uid:gid (symlinks themselves, never their targets). */
function handOver(dir: string, from: number, uid: number, gid: number): void {
  const visit = (p: string, top: boolean): void => {
    const st = lstatSync(p);
    if (top || st.uid === from) lchownSync(p, uid, gid);
    if (!st.isDirectory()) return;
    for (const name of readdirSync(p)) visit(join(p, name), false);
  };
  visit(dir, true);
  chownSync(dir, uid, gid);
}
