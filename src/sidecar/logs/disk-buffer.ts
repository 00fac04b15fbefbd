// Disk buffer of one sink: batches appended as length-prefixed frames to segment files under
// `.berth/logs-agent/<instance>/buffer/<sink>/`, fsync'ed before the source checkpoint may advance;
// a reader position (also durable) says what the sink has acknowledged. Survives agent restarts:
// unacknowledged batches are delivered after a restart. A torn frame at the tail (crash during a
// write) is cut off on open: it was never acknowledged upstream, so its lines are read again.
import { closeSync, fstatSync, fsyncSync, ftruncateSync, mkdirSync, openSync, readdirSync, readFileSync, readSync, renameSync, rmSync, statSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { recordJson } from './enrich.js';
import type { LogRecord } from './record.js';

const SEGMENT_BYTES = 8 * 1024 * 1024;
const HEADER = 4;

interface ReaderPos {
  segment: number;
  offset: number;
}

export class DiskBuffer {
  private writeSeg: number;
  private writeFd: number | undefined;
  private writeSize = 0;
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
    if (this.writeSize > 0 && this.writeSize + frame.length > SEGMENT_BYTES) {
      closeSync(this.writeFd as number);
      this.writeSeg++;
      this.openWriter();
    }
    let off = 0;
    while (off < frame.length) off += writeSync(this.writeFd as number, frame, off);
    fsyncSync(this.writeFd as number);
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

  /** Marks the batch returned by peek() as acknowledged (durably). */
  ack(next: ReaderPos, size: number): void {
    this.pos = next;
    this.totalBytes -= size;
    this.savePos();
  }

  private savePos(): void {
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
