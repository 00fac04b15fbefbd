// Disk buffer of one sink: batches appended as length-prefixed frames to segment files under
// `.berth/logs-agent/<instance>/buffer/<sink>/`, fsync'ed before the source checkpoint may advance;
// a reader position (also durable) says what the sink has acknowledged. Survives agent restarts:
// unacknowledged batches are delivered after a restart. A torn frame at the tail (crash during a
// write) is cut off on open: it was never acknowledged upstream, so its lines are read again.
// A full disk (ENOSPC, EDQUOT) makes append() throw DiskFullError after cutting the partial frame
// off again, so the buffer stays consistent and the caller can hold the batch and retry later.
import { closeSync, fstatSync, fsyncSync, ftruncateSync, mkdirSync, openSync, readdirSync, readFileSync, readSync, renameSync, rmSync, statSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { recordJson } from './enrich.js';
import type { LogRecord } from './record.js';

const SEGMENT_BYTES = 8 * 1024 * 1024;

/** append() could not write: the file system is full (or over quota). Nothing of the batch was kept. */
export class DiskFullError extends Error {
  constructor(override readonly cause: Error) {
    super(`disk full: ${cause.message}`);
  }
}

export function isDiskFull(err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  return code === 'ENOSPC' || code === 'EDQUOT';
}
const HEADER = 4;
/** Once everything is acknowledged, a segment at least this large is replaced by a fresh one (see reclaim). */
const RECLAIM_BYTES = 1024 * 1024;

interface ReaderPos {
  segment: number;
  offset: number;
}

export class DiskBuffer {
  private writeSeg: number;
  private writeFd: number | undefined;
  private writeSize = 0;
  private torn = false;
  private pos: ReaderPos;
  private totalBytes = 0;

  constructor(readonly dir: string) {
    mkdirSync(dir, { recursive: true });
    const segs = this.segments();
    try {
      this.pos = JSON.parse(readFileSync(join(dir, 'reader.json'), 'utf8')) as ReaderPos;
    } catch {
      this.pos = { segment: segs[0] ?? 1, offset: 0 };
    }
    for (const s of segs) if (s < this.pos.segment) rmSync(this.segPath(s), { force: true });
    this.writeSeg = Math.max(this.pos.segment, segs[segs.length - 1] ?? 1);
    this.openWriter();
    for (const s of this.segments()) {
      try {
        const st = statSync(this.segPath(s));
        this.totalBytes += st.size;
      } catch {
        // a segment removed meanwhile (delivered and deleted) holds no bytes
      }
    }
    this.totalBytes -= this.pos.offset;
  }

  private segPath(n: number): string {
    return join(this.dir, `segment-${String(n).padStart(8, '0')}.buf`);
  }

  private segments(): number[] {
    return readdirSync(this.dir)
      .map((n) => /^segment-(\d+)\.buf$/.exec(n))
      .filter((m): m is RegExpExecArray => m !== null)
      .map((m) => Number(m[1]))
      .sort((a, b) => a - b);
  }

  private openWriter(): void {
    const path = this.segPath(this.writeSeg);
    this.writeFd = openSync(path, 'a+');
    // Cut a torn tail frame (a crash during append).
    const size = fstatSync(this.writeFd).size;
    let off = 0;
    const head = Buffer.alloc(HEADER);
    while (off + HEADER <= size) {
      readSync(this.writeFd, head, 0, HEADER, off);
      const len = head.readUInt32BE(0);
      if (off + HEADER + len > size) break;
      off += HEADER + len;
    }
    if (off < size) ftruncateSync(this.writeFd, off);
    this.writeSize = off;
  }

  /** Bytes written and not yet acknowledged. */
  get bytes(): number {
    return this.totalBytes;
  }

  get isEmpty(): boolean {
    return this.pos.segment === this.writeSeg && this.pos.offset >= this.writeSize;
  }

  /** Appends one batch durably. */
  append(records: readonly LogRecord[]): void {
    let text = '[';
    for (let i = 0; i < records.length; i++) text += (i ? ',' : '') + recordJson(records[i]);
    const body = Buffer.from(text + ']');
    const frame = Buffer.allocUnsafe(HEADER + body.length);
    frame.writeUInt32BE(body.length, 0);
    body.copy(frame, HEADER);
    try {
      // A frame cut short by an earlier full disk that could not be cut off then: cut it first.
      if (this.torn) {
        ftruncateSync(this.writeFd as number, this.writeSize);
        this.torn = false;
      }
      if (this.writeSize > 0 && this.writeSize + frame.length > SEGMENT_BYTES) {
        const old = this.writeFd as number;
        this.writeSeg++;
        try {
          this.openWriter();
        } catch (err) {
          this.writeSeg--;
          throw err;
        }
        closeSync(old);
      }
      let off = 0;
      while (off < frame.length) off += writeSync(this.writeFd as number, frame, off);
      fsyncSync(this.writeFd as number);
    } catch (err) {
      if (!isDiskFull(err)) throw err;
      // Cut what was written of the frame, so the file ends with whole frames again.
      try {
        ftruncateSync(this.writeFd as number, this.writeSize);
      } catch {
        // Cannot cut it now: `torn` makes the next append cut it before writing anything.
        this.torn = true;
      }
      throw new DiskFullError(err as Error);
    }
    this.writeSize += frame.length;
    this.totalBytes += frame.length;
  }

  /** The oldest unacknowledged batch, or undefined when empty. */
  peek(): { records: LogRecord[]; next: ReaderPos; size: number } | undefined {
    for (;;) {
      if (this.isEmpty) return undefined;
      const path = this.segPath(this.pos.segment);
      let fd: number;
      try {
        fd = openSync(path, 'r');
      } catch {
        if (this.pos.segment >= this.writeSeg) return undefined;
        this.pos = { segment: this.pos.segment + 1, offset: 0 };
        continue;
      }
      try {
        const size = fstatSync(fd).size;
        if (this.pos.offset + HEADER > size) {
          if (this.pos.segment >= this.writeSeg) return undefined;
          this.pos = { segment: this.pos.segment + 1, offset: 0 };
          this.savePos();
          rmSync(path, { force: true });
          continue;
        }
        const head = Buffer.alloc(HEADER);
        readSync(fd, head, 0, HEADER, this.pos.offset);
        const len = head.readUInt32BE(0);
        const body = Buffer.allocUnsafe(len);
        readSync(fd, body, 0, len, this.pos.offset + HEADER);
        let records: LogRecord[];
        try {
          records = JSON.parse(body.toString('utf8')) as LogRecord[];
        } catch {
          records = [];
        }
        return { records, next: { segment: this.pos.segment, offset: this.pos.offset + HEADER + len }, size: HEADER + len };
      } finally {
        closeSync(fd);
      }
    }
  }

  /** Marks the batch returned by peek() as acknowledged (durably when the disk lets it). */
  ack(next: ReaderPos, size: number): void {
    this.pos = next;
    this.totalBytes -= size;
    if (this.isEmpty && this.writeSize >= RECLAIM_BYTES) this.reclaim();
    else this.savePos();
  }

  /**
   * Everything is acknowledged: starts a new segment and removes the old one, so the space of
   * delivered batches returns to the file system now rather than when the segment reaches its full
   * size (on a nearly full disk, that could be never).
   */
  reclaim(): void {
    if (!this.isEmpty || this.writeSize === 0 || this.torn) return;
    const old = this.writeSeg;
    const oldFd = this.writeFd as number;
    this.writeSeg++;
    try {
      this.openWriter();
    } catch (err) {
      // No new segment now (no inode left?): keep appending to the current one.
      this.writeSeg--;
      if (!isDiskFull(err)) throw err;
      this.savePos();
      return;
    }
    closeSync(oldFd);
    this.pos = { segment: this.writeSeg, offset: 0 };
    this.savePos();
    rmSync(this.segPath(old), { force: true });
  }

  /**
   * Persists the reader position. If the disk is full, the position stays in memory and is written
   * with the next acknowledgement: a crash before that delivers some batches again (at least once).
   */
  private savePos(): void {
    try {
      this.writePos();
    } catch (err) {
      if (!isDiskFull(err)) throw err;
    }
  }

  private writePos(): void {
    const tmp = join(this.dir, 'reader.json.tmp');
    const fd = openSync(tmp, 'w');
    try {
      writeSync(fd, JSON.stringify(this.pos));
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, join(this.dir, 'reader.json'));
  }

  close(): void {
    if (this.writeFd !== undefined) closeSync(this.writeFd);
    this.writeFd = undefined;
  }
}
