// Compressed files among a glob's matches (logrotate's `compress`: app.log.2.gz …): recognised by
// their magic bytes, whatever their name, so they are never read as text. With `decompress`, gzip
// files are inflated once into the agent's work directory (asynchronously, one at a time) and read
// from there like any plain file; their content fingerprint is that of the original lines, so a file
// already read before it was compressed resumes at its checkpoint (at its end) and is not re-shipped.
import { createReadStream, createWriteStream, mkdirSync, readSync, renameSync, rmSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { createGunzip } from 'node:zlib';

export type Compression = 'gzip' | 'bzip2' | 'xz' | 'zstd';

/** The compression format of the file open as `fd`, from its first bytes; undefined for anything else. */
export function compressionOf(fd: number): Compression | undefined {
  const b = Buffer.alloc(6);
  let n: number;
  try {
    n = readSync(fd, b, 0, 6, 0);
  } catch {
    return undefined;
  }
  if (n >= 2 && b[0] === 0x1f && b[1] === 0x8b) return 'gzip';
  if (n >= 3 && b[0] === 0x42 && b[1] === 0x5a && b[2] === 0x68) return 'bzip2'; // "BZh"
  if (n >= 6 && b.equals(Buffer.from([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00]))) return 'xz';
  if (n >= 4 && b[0] === 0x28 && b[1] === 0xb5 && b[2] === 0x2f && b[3] === 0xfd) return 'zstd';
  return undefined;
}

interface Entry {
  state: 'running' | 'ready' | 'failed' | 'done';
  out: string;
}

/** Decompressed copies of gzip files, keyed by the compressed file's identity (path, inode, size). */
export class Decompressor {
  private readonly entries = new Map<string, Entry>();
  private running = false;
  private readonly queue: { id: string; path: string }[] = [];

  constructor(
    private readonly dir: string,
    private readonly onReady: () => void,
    private readonly log: (msg: string) => void,
  ) {}

  static id(path: string, ino: number, size: number): string {
    return `${path}\u0000${ino}\u0000${size}`;
  }

  /**
   * The readable copy of a gzip file once it is ready; undefined while it is being made, when it
   * failed, or when it was read to its end already (done).
   */
  copyOf(id: string, path: string): string | undefined {
    const e = this.entries.get(id);
    if (e) return e.state === 'ready' ? e.out : undefined;
    const out = join(this.dir, createHash('sha256').update(id).digest('hex').slice(0, 24) + '.log');
    this.entries.set(id, { state: 'running', out });
    this.queue.push({ id, path });
    this.pump();
    return undefined;
  }

  /** The copy was read to its end and acknowledged: remove it; the compressed file is not read again. */
  finish(id: string): void {
    const e = this.entries.get(id);
    if (!e || e.state !== 'ready') return;
    e.state = 'done';
    rmSync(e.out, { force: true });
  }

  private pump(): void {
    if (this.running) return;
    const next = this.queue.shift();
    if (!next) return;
    this.running = true;
    const e = this.entries.get(next.id) as Entry;
    const tmp = `${e.out}.tmp`;
    Promise.resolve()
      .then(() => {
        mkdirSync(this.dir, { recursive: true });
        return pipeline(createReadStream(next.path), createGunzip(), createWriteStream(tmp));
      })
      .then(() => {
        renameSync(tmp, e.out);
        e.state = 'ready';
        this.onReady();
      })
      .catch((err: unknown) => {
        e.state = 'failed';
        rmSync(tmp, { force: true });
        this.log(`cannot decompress ${next.path}: ${(err as Error).message}; skipped`);
      })
      .finally(() => {
        this.running = false;
        this.pump();
      })
      .catch((err: unknown) => this.log(`decompression: ${(err as Error).message}`));
  }

  /** Removes copies not read to their end yet (they are made again on the next start). */
  close(): void {
    for (const e of this.entries.values()) if (e.state === 'ready') rmSync(e.out, { force: true });
  }
}
