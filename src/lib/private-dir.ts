// Keeps `.berth/` private to its owner: the directory tree 0700 and every file in it 0600. State
// holds secrets (envFile values in SQLite's WAL, the API token) and logs, so nothing in it is for
// other local users. New files are covered by the umask the control plane sets for itself and its
// children (see PRIVATE_UMASK); this walk repairs what an older Berth or another tool left behind.
// The exception is `volumes/`: the apps' persistent data, whose modes belong to the apps (see
// node/volume-dirs.ts); when it exists, `root` may be 0711 so an app's user can pass through to its
// own volume.
import { chmodSync, existsSync, lstatSync, mkdirSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { VOLUMES_DIR } from './state-dir.js';

/** The umask of every Berth process that writes under `.berth/`: new files 0600, new folders 0700. */
export const PRIVATE_UMASK = 0o077;

/** Creates `root` (0700) if needed and tightens every folder below it to 0700, every file to 0600. Returns how many modes it changed. */
export function securePrivateTree(root: string): number {
  mkdirSync(root, { recursive: true, mode: 0o700 });
  let changed = 0;
  const volumes = join(root, VOLUMES_DIR);
  const hasVolumes = existsSync(volumes);
  const visit = (path: string): void => {
    if (path === volumes) return; // the apps' data: not Berth's to re-mode
    let st;
    try {
      st = lstatSync(path);
    } catch {
      return; // removed while we walked (a rotated log, a temp file): nothing left to protect
    }
    if (st.isSymbolicLink()) return; // chmod would follow it out of the tree
    const want = st.isDirectory() ? 0o700 : 0o600;
    const passThrough = path === root && hasVolumes && (st.mode & 0o777) === 0o711;
    if ((st.mode & 0o777) !== want && !passThrough) {
      try {
        chmodSync(path, want);
        changed++;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      }
    }
    if (!st.isDirectory()) return;
    let names: string[];
    try {
      names = readdirSync(path);
    } catch {
      return; // vanished between lstat and readdir
    }
    for (const name of names) visit(join(path, name));
  };
  visit(root);
  return changed;
}
