// Streaming HAR writer for recordings: the caller hands over an entry and returns at once; a
// background loop appends entries to the current file and rotates it at maxFileMiB. The queue is
// bounded in bytes: when the disk is slow or full, entries are dropped and counted, never waited
// for, so recording can never delay or fail the request it describes.
import { mkdir, open, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import type { HarCreator, HarEntry } from './har.js';

export interface HarWriterOptions {
  /** Folder for the files; created when missing. */
  readonly dir: string;
  /** File name stem: files are `<stem>-0001.har`, `<stem>-0002.har`, … */
  readonly stem: string;
  /** Rotate once a file would grow past this many MiB (the last entry may be the only one over it). */
  readonly maxFileMiB: number;
  /** Bytes of serialized entries allowed to wait for the disk; beyond that, entries are dropped. Default 8 MiB. */
  readonly maxQueueBytes?: number;
  readonly creator?: HarCreator;
  /** Called once per write failure (disk full, …) so the owner can log it; entries of that batch are counted as dropped. */
  readonly onError?: (err: Error) => void;
}

export interface HarWriterStats {
  /** Entries on disk. */
  written: number;
  /** Entries dropped: queue full or a failed write. */
  dropped: number;
  /** Bytes waiting for the disk. */
  queuedBytes: number;
  /** Every file started so far, oldest first. */
  files: string[];
}

const MiB = 1024 * 1024;
const BATCH_BYTES = MiB;
/** How long entries gather before a write (unless a batch is full). */
const GATHER_MS = 50;
const FOOTER = '\n]}}\n';

const SEPARATOR = Buffer.from(',\n');

export class HarWriter {
  /** Serialised entries (UTF-8 bytes: off the JS heap while they wait, and measured without a scan). */
  private queue: Buffer[] = [];
  private queuedBytes = 0;
  private written = 0;
  private dropped = 0;
  private readonly files: string[] = [];
  private fh: FileHandle | undefined;
  private fileBytes = 0;
  private entriesInFile = 0;
  private draining: Promise<void> | undefined;
  private closed = false;
  private nextNumber = 1;
  private readonly maxQueueBytes: number;
  private readonly maxFileBytes: number;
  private readonly header: string;

  constructor(private readonly o: HarWriterOptions) {
    if (!(o.maxFileMiB > 0)) throw new RangeError(`maxFileMiB must be > 0, got ${o.maxFileMiB}`);
    this.maxQueueBytes = o.maxQueueBytes ?? 8 * MiB;
    this.maxFileBytes = o.maxFileMiB * MiB;
    const creator = o.creator ?? { name: 'berth', version: '0.1.0' };
    this.header = `{"log":{"version":"1.2","creator":${JSON.stringify(creator)},"entries":[\n`;
  }

  /** Queues one entry; false when it was dropped (queue full or writer closed). Never blocks. */
  write(entry: HarEntry): boolean {
    if (this.closed) {
      this.dropped++;
      return false;
    }
    return this.writeText(JSON.stringify(entry));
  }

  /** Queues one entry already serialised as JSON (one HAR entry object); false when it was dropped. Never blocks. */
  writeText(json: string): boolean {
    if (this.closed) {
      this.dropped++;
      return false;
    }
    if (this.queuedBytes + json.length > this.maxQueueBytes) {
      this.dropped++;
      return false;
    }
    const text = Buffer.from(json, 'utf8');
    this.queue.push(text);
    this.queuedBytes += text.length;
    // Entries gather for a moment and go out in one write: one write per entry would cost the
    // proxy's event loop more than the entry itself at a thousand requests a second.
    this.draining ??= new Promise<void>((r) => setTimeout(r, this.queuedBytes >= BATCH_BYTES ? 0 : GATHER_MS))
      .then(() => this.drain())
      .finally(() => (this.draining = undefined));
    return true;
  }

  stats(): HarWriterStats {
    return { written: this.written, dropped: this.dropped, queuedBytes: this.queuedBytes, files: [...this.files] };
  }

  /** Resolves when every entry queued so far is on disk (or dropped). */
  async flush(): Promise<void> {
    while (this.draining) await this.draining;
  }

  /** Writes what is queued, closes the current file as a complete HAR document; later writes are dropped. */
  async close(): Promise<HarWriterStats> {
    this.closed = true;
    await this.flush();
    await this.finishFile();
    return this.stats();
  }

  private async drain(): Promise<void> {
    while (this.queue.length) {
      // Take up to BATCH_BYTES (at least one entry) and write them in one call.
      const batch: Buffer[] = [];
      let bytes = 0;
      while (this.queue.length && (batch.length === 0 || bytes + this.queue[0].length <= BATCH_BYTES)) {
        const t = this.queue.shift()!;
        batch.push(t);
        bytes += t.length;
      }
      this.queuedBytes -= bytes;
      try {
        await this.append(batch);
        this.written += batch.length;
      } catch (err) {
        this.dropped += batch.length;
        this.o.onError?.(err as Error);
        // Start a fresh file next time: the current one may hold a partial write.
        await this.finishFile().catch(() => undefined); // already failing: the error was reported above
      }
    }
  }

  private async append(batch: Buffer[]): Promise<void> {
    let i = 0;
    while (i < batch.length) {
      if (!this.fh) await this.startFile();
      const parts: Buffer[] = [];
      let entries = 0;
      let bytes = 0;
      // Fill the current file up to its limit; an entry alone bigger than the limit still gets a file.
      while (i < batch.length) {
        const sep = this.entriesInFile + entries > 0 ? SEPARATOR.length : 0;
        const len = sep + batch[i].length;
        if (this.fileBytes + bytes + len + FOOTER.length > this.maxFileBytes && this.entriesInFile + entries > 0) break;
        if (sep) parts.push(SEPARATOR);
        parts.push(batch[i]);
        entries++;
        bytes += len;
        i++;
      }
      if (entries) {
        await this.fh!.write(Buffer.concat(parts, bytes));
        this.fileBytes += bytes;
        this.entriesInFile += entries;
      }
      if (i < batch.length) await this.finishFile();
    }
  }

  private async startFile(): Promise<void> {
    await mkdir(this.o.dir, { recursive: true, mode: 0o700 });
    // Never overwrite: files of an earlier recording with the same stem are kept, numbering goes on.
    let fh: FileHandle | undefined;
    let path = '';
    for (let n = this.nextNumber; !fh; n++) {
      path = join(this.o.dir, `${this.o.stem}-${String(n).padStart(4, '0')}.har`);
      try {
        fh = await open(path, 'wx', 0o600);
        this.nextNumber = n + 1;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST' || n - this.nextNumber > 10_000) throw err;
      }
    }
    await fh.write(this.header);
    this.fh = fh;
    this.files.push(path);
    this.fileBytes = Buffer.byteLength(this.header);
    this.entriesInFile = 0;
  }

  private async finishFile(): Promise<void> {
    const fh = this.fh;
    if (!fh) return;
    this.fh = undefined;
    try {
      await fh.write(FOOTER);
    } finally {
      await fh.close();
    }
  }
}
