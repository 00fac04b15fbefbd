// Watches folders for saved files with the fewest inotify resources: on Linux one non-recursive watch
// per folder that is not ignored (Node's recursive mode there watches node_modules too), on macOS and
// Windows the native recursive watch. When the machine's inotify limits are hit (ENOSPC: watches,
// EMFILE: instances — 128 per user by default), it says so and falls back to polling the files' stats.
import { watch, statSync, type FSWatcher } from 'node:fs';
import { dirname, join } from 'node:path';
import { listWatched, type IgnoreTest } from '../../lib/source-digest.js';

export interface WatchRoot {
  /** An absolute folder or file. */
  path: string;
  ignored: IgnoreTest;
}

export interface TreeWatcher {
  readonly mode: () => 'native' | 'poll';
  /** Folders watched (native mode). */
  readonly watches: () => number;
  close(): void;
}

export interface TreeWatcherOptions {
  /** Called with the absolute path of a changed file or folder. */
  onChange: (path: string) => void;
  /** Called once when the watcher falls back to polling, with the reason. */
  onFallback?: (message: string) => void;
  /** Poll interval in the fallback (ms). */
  pollMs?: number;
  /** Tests: start in polling mode, as if the limit had been hit. */
  forcePoll?: boolean;
}

const LIMIT_CODES = new Set(['ENOSPC', 'EMFILE', 'ENFILE']);
const nativeRecursive = process.platform === 'darwin' || process.platform === 'win32';

function limitMessage(code: string): string {
  return code === 'ENOSPC'
    ? 'the inotify watch limit is reached (fs.inotify.max_user_watches); watching by polling instead. Raise it with `sudo sysctl fs.inotify.max_user_watches=524288`, or narrow watch.paths'
    : 'too many inotify instances or open files (fs.inotify.max_user_instances, 128 by default, is shared by every program of your user); watching by polling instead. Raise it with `sudo sysctl fs.inotify.max_user_instances=512`';
}

/** Stat signature of every watched file: path → size and mtime. */
function snapshot(roots: WatchRoot[]): Map<string, string> {
  const out = new Map<string, string>();
  for (const r of roots) {
    let files: string[];
    try {
      files = listWatched({ paths: [r.path], ignore: [], specDir: r.path }, r.ignored).files;
    } catch {
      continue;
    }
    for (const f of files) {
      try {
        const st = statSync(f);
        out.set(f, `${st.size}:${st.mtimeMs}`);
      } catch {
        // removed meanwhile: absent from this snapshot
      }
    }
  }
  return out;
}

export function watchTree(roots: WatchRoot[], opts: TreeWatcherOptions): TreeWatcher {
  const watchers = new Map<string, FSWatcher>();
  let mode: 'native' | 'poll' = 'native';
  let pollTimer: NodeJS.Timeout | undefined;
  let closed = false;

  const startPolling = (reason?: string) => {
    if (mode === 'poll' && pollTimer) return;
    mode = 'poll';
    for (const w of watchers.values()) w.close();
    watchers.clear();
    if (reason) opts.onFallback?.(reason);
    let last = snapshot(roots);
    const tick = () => {
      if (closed) return;
      const now = snapshot(roots);
      for (const [f, sig] of now) if (last.get(f) !== sig) opts.onChange(f);
      for (const f of last.keys()) if (!now.has(f)) opts.onChange(f);
      last = now;
      pollTimer = setTimeout(tick, opts.pollMs ?? 500);
    };
    pollTimer = setTimeout(tick, opts.pollMs ?? 500);
  };

  const fail = (err: NodeJS.ErrnoException): boolean => {
    if (err.code && LIMIT_CODES.has(err.code)) {
      startPolling(limitMessage(err.code));
      return true;
    }
    return false;
  };

  const watchDir = (dir: string, root: WatchRoot) => {
    const key = `${dir}\0${root.path}`;
    if (closed || mode === 'poll' || watchers.has(key)) return;
    let w: FSWatcher;
    try {
      w = watch(dir, { persistent: true, ...(nativeRecursive ? { recursive: true } : {}) }, (_event, name) => {
        const abs = name ? join(dir, name.toString()) : dir;
        let isDir = false;
        try {
          isDir = statSync(abs).isDirectory();
        } catch {
          // removed: reported as a change of that path
        }
        if (root.ignored(abs, isDir)) return;
        // A new folder is watched too (its files may already be there: an editor's or git's batch).
        if (isDir && !nativeRecursive) for (const d of listWatched({ paths: [abs], ignore: [], specDir: abs }, root.ignored).dirs) watchDir(d, root);
        opts.onChange(abs);
      });
    } catch (err) {
      if (fail(err as NodeJS.ErrnoException)) return;
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return; // gone since the walk
      throw err;
    }
    w.on('error', (err: NodeJS.ErrnoException) => {
      if (!fail(err)) {
        w.close();
        watchers.delete(key);
      }
    });
    watchers.set(key, w);
  };

  if (opts.forcePoll) startPolling();
  else
    for (const r of roots) {
      let isDir = false;
      try {
        isDir = statSync(r.path).isDirectory();
      } catch {
        continue; // a path that does not exist yet is not watched
      }
      // A file is watched through its folder: an editor's save-by-rename replaces the file's inode.
      if (!isDir) watchDir(dirname(r.path), { path: r.path, ignored: (abs) => abs !== r.path });
      else if (nativeRecursive) watchDir(r.path, r);
      else for (const d of listWatched({ paths: [r.path], ignore: [], specDir: r.path }, r.ignored).dirs) watchDir(d, r);
    }

  return {
    mode: () => mode,
    watches: () => watchers.size,
    close() {
      closed = true;
      if (pollTimer) clearTimeout(pollTimer);
      for (const w of watchers.values()) w.close();
      watchers.clear();
    },
  };
}
