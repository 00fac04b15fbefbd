// Checkpoints of the files a service declares (`logs.files`), kept per service rather than per
// instance (`.berth/logs-files/<service>/`), so a new instance's agent (a rollout, a restart
// elsewhere) resumes where the old one stopped instead of re-shipping from the file heads. Several
// agents of the service share the directory, each writing only the sources it reads (it holds their
// reader lock, see reader-lock.ts): one small file per source, written atomically, read again when
// the source is taken over.
import { closeSync, fsyncSync, mkdirSync, openSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import type { Checkpoint, Checkpoints } from './checkpoints.js';

/** Checkpoint files untouched for this long (their source is long gone) are removed. */
const MAX_AGE_MS = 30 * 24 * 3600 * 1000;

export class SharedCheckpoints implements Checkpoints {
  private readonly cache = new Map<string, Checkpoint>();
  private readonly dirty = new Set<string>();

  constructor(readonly dir: string) {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    this.prune();
  }

  private file(key: string): string {
    return join(this.dir, `${key.replace(/[^\w.-]/g, '_')}.json`);
  }

  /** Reads the stored checkpoint of `key` again (another agent may have advanced it). */
  reload(key: string): void {
    if (!this.dirty.has(key)) this.cache.delete(key);
  }

  get(key: string): Checkpoint | undefined {
    const c = this.cache.get(key);
    if (c) return c;
    try {
      const v = JSON.parse(readFileSync(this.file(key), 'utf8')) as Checkpoint;
      if (typeof v?.offset !== 'number') return undefined;
      this.cache.set(key, v);
      return v;
    } catch {
      // No checkpoint yet (or an unreadable one): the source is read from its head.
      return undefined;
    }
  }

  advance(key: string, offset: number, path: string): void {
    const cur = this.get(key);
    if (cur && cur.offset >= offset && cur.path === path) return;
    this.cache.set(key, { offset: Math.max(offset, cur?.offset ?? 0), path, at: Date.now() });
    this.dirty.add(key);
  }

  reset(key: string, offset: number, path: string): void {
    this.cache.set(key, { offset, path, at: Date.now() });
    this.dirty.add(key);
  }

  flush(): void {
    for (const key of [...this.dirty]) {
      const c = this.cache.get(key);
      if (!c) continue;
      const file = this.file(key);
      const tmp = `${file}.${process.pid}.tmp`;
      const fd = openSync(tmp, 'w', 0o600);
      try {
        writeSync(fd, JSON.stringify(c));
        fsyncSync(fd);
      } finally {
        closeSync(fd);
      }
      renameSync(tmp, file);
      this.dirty.delete(key);
    }
  }

  private prune(): void {
    const now = Date.now();
    let names: string[] = [];
    try {
      names = readdirSync(this.dir);
    } catch {
      return; // nothing to prune
    }
    for (const n of names) {
      const p = join(this.dir, n);
      try {
        if (now - statSync(p).mtimeMs > MAX_AGE_MS) rmSync(p, { force: true });
      } catch {
        // Removed by another agent meanwhile.
      }
    }
  }
}
