// Durable read positions: per source fingerprint, the offset up to which every line has been
// acknowledged by the sinks. Written atomically (temp file, fsync, rename, fsync of the directory),
// so after a crash or SIGKILL the agent resumes from an acknowledged position: nothing is skipped.
import { closeSync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, writeSync } from 'node:fs';
import { join } from 'node:path';

export interface Checkpoint {
  offset: number;
  /** Last path the source was read from (informational; sources are matched by fingerprint). */
  path: string;
  /** Epoch ms of the last update, for pruning. */
  at: number;
}

const MAX_ENTRIES = 2000;

/** What the tailer and the pipeline need of a checkpoint store. */
export interface Checkpoints {
  get(key: string): Checkpoint | undefined;
  advance(key: string, offset: number, path: string): void;
  reset(key: string, offset: number, path: string): void;
  flush(): void;
}

export class CheckpointStore implements Checkpoints {
  private readonly file: string;
  private entries = new Map<string, Checkpoint>();
  private dirty = false;

  constructor(readonly dir: string) {
    mkdirSync(dir, { recursive: true });
    this.file = join(dir, 'checkpoints.json');
    try {
      const parsed = JSON.parse(readFileSync(this.file, 'utf8')) as { version: number; sources: Record<string, Checkpoint> };
      for (const [k, v] of Object.entries(parsed.sources ?? {})) if (typeof v?.offset === 'number') this.entries.set(k, v);
    } catch {
      // First start (or an unreadable file): every source is read from its head.
    }
  }

  get(key: string): Checkpoint | undefined {
    return this.entries.get(key);
  }

  /** Advances (never rewinds, except via `reset`) the acknowledged offset of `key`. */
  advance(key: string, offset: number, path: string): void {
    const cur = this.entries.get(key);
    if (cur && cur.offset >= offset && cur.path === path) return;
    this.entries.set(key, { offset: Math.max(offset, cur?.offset ?? 0), path, at: Date.now() });
    this.dirty = true;
  }

  /** Sets the offset of `key` (a truncated source starts over). */
  reset(key: string, offset: number, path: string): void {
    this.entries.set(key, { offset, path, at: Date.now() });
    this.dirty = true;
  }

  get size(): number {
    return this.entries.size;
  }

  /** Writes the checkpoints durably if anything changed. */
  flush(): void {
    if (!this.dirty) return;
    if (this.entries.size > MAX_ENTRIES) {
      const oldest = [...this.entries.entries()].sort((a, b) => a[1].at - b[1].at).slice(0, this.entries.size - MAX_ENTRIES);
      for (const [k] of oldest) this.entries.delete(k);
    }
    const text = JSON.stringify({ version: 1, sources: Object.fromEntries(this.entries) });
    const tmp = `${this.file}.tmp`;
    const fd = openSync(tmp, 'w', 0o644);
    try {
      writeSync(fd, text);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, this.file);
    try {
      const dfd = openSync(this.dir, 'r');
      try {
        fsyncSync(dfd);
      } finally {
        closeSync(dfd);
      }
    } catch {
      // fsync of the directory is not supported everywhere; the file itself was fsynced above
    }
    this.dirty = false;
  }
}
