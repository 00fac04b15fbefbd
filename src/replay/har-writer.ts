// Streaming HAR writer for recordings: the caller hands over an entry and returns at once; a
// background loop appends entries to the current file and rotates it at maxFileMiB. The queue is
// bounded in bytes: when the disk is slow or full, entries are dropped and counted, never waited
// for, so recording can never delay or fail the request it describes.
//
// Every write puts the entries AND the closing brackets after them, at the offset where the previous
// closing brackets began: the file is a complete HAR document after each write. A write that fails
// (disk full, a file size limit: short writes, then EFBIG) is undone — the file is cut back to its
// last complete state and finished — and its entries are counted as dropped, so `written` only ever
// counts entries readable on disk.
import { mkdir, open, unlink, type FileHandle } from 'node:fs/promises';
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
const FOOTER_BYTES = Buffer.from(FOOTER);

/** Writes all of `buf` at `position`, however many calls it takes (fh.write may write less than asked). */
async function writeAll(fh: FileHandle, buf: Buffer, position: number): Promise<void> {
  let off = 0;
  while (off < buf.length) {
    const { bytesWritten } = await fh.write(buf, off, buf.length - off, position + off);
    if (bytesWritten <= 0) throw new Error(`short write: ${off} of ${buf.length} bytes`);
    off += bytesWritten;
  }
}

export class HarWriter {
  /** Serialised entries (UTF-8 bytes: off the JS heap while they wait, and measured without a scan). */
  private queue: Buffer[] = [];
  private queuedBytes = 0;
  private written = 0;
  private dropped = 0;
  private readonly files: string[] = [];
  private fh: FileHandle | undefined;
  /** Bytes of the current file before its closing brackets (where the next entries go). */
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
    await this.finishFile().catch((err: Error) => this.o.onError?.(err)); // the file is complete already: only its close failed
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
      const before = this.written;
      try {
        await this.append(batch);
      } catch (err) {
        // The entries of the batch not on disk (append counts those it wrote, file by file) are dropped.
        this.dropped += batch.length - (this.written - before);
        this.o.onError?.(err as Error);
        // Cut the current file back to its last complete state; a fresh file is started next time.
        await this.abandonFile();
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
        parts.push(FOOTER_BYTES);
        await writeAll(this.fh!, Buffer.concat(parts, bytes + FOOTER_BYTES.length), this.fileBytes);
        this.fileBytes += bytes;
        this.entriesInFile += entries;
        this.written += entries;
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
    const header = Buffer.from(this.header);
    try {
      await writeAll(fh, Buffer.concat([header, FOOTER_BYTES]), 0);
    } catch (err) {
      // Not even an empty document fits: no file is left behind.
      await fh.close().catch(() => undefined);
      await unlink(path).catch(() => undefined);
      throw err;
    }
    this.fh = fh;
    this.files.push(path);
    this.fileBytes = header.length;
    this.entriesInFile = 0;
  }

  /** Closes the current file: it ends with its closing brackets already (every write puts them). */
  private async finishFile(): Promise<void> {
    const fh = this.fh;
    if (!fh) return;
    this.fh = undefined;
    await fh.close();
  }

  /**
   * After a failed write: cut the file back to its last complete state (what a failed or short
   * write put after it goes) and put its closing brackets back, then close it. Shrinking and
   * rewriting bytes the file already had needs no new space, so this works on a full disk and under a
   * file size limit; should it fail anyway, the file is left cut after its last whole entry (readHar
   * completes such a file).
   */
  private async abandonFile(): Promise<void> {
    const fh = this.fh;
    if (!fh) return;
    this.fh = undefined;
    try {
      await fh.truncate(this.fileBytes + FOOTER_BYTES.length);
      await writeAll(fh, FOOTER_BYTES, this.fileBytes);
    } catch (err) {
      this.o.onError?.(err as Error);
      await fh.truncate(this.fileBytes).catch(() => undefined); // already failing: reported above
    } finally {
      await fh.close().catch(() => undefined); // nothing left to lose: the data is written or not
    }
  }
}
