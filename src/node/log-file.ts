// One capture file `<logDir>/<name>.log`: appends CRI records from a process's stdout and stderr,
// rotating by size (name.log → name.log.1 → … → name.log.<keep>, oldest dropped).
import { closeSync, fstatSync, mkdirSync, openSync, renameSync, rmSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { criTimestamp, CriLineSplitter, encodeCriRecord, preciseNowNs, type LogStream } from './cri-log.js';

export interface LogRotation {
  /** Rotate when the file would exceed this many bytes. */
  maxBytes: number;
  /** Rotated files kept (name.log.1 … name.log.<keep>). */
  keep: number;
}

export const DEFAULT_LOG_ROTATION: LogRotation = { maxBytes: 10 * 1024 * 1024, keep: 3 };

export class LogFile {
  private fd: number | undefined;
  private size = 0;
  private readonly path: string;
  private failed = false;

  constructor(
    private readonly dir: string,
    name: string,
    private readonly rotation: LogRotation,
  ) {
    this.path = join(dir, `${name}.log`);
  }

  /** A splitter-backed sink for one stream of one process run; call `end()` when the pipe closes. */
  streamWriter(stream: LogStream): { write(chunk: Buffer): void; end(): void } {
    const splitter = new CriLineSplitter();
    return {
      write: (chunk) => {
        for (const rec of splitter.push(chunk)) this.writeRecord(stream, rec.tag, rec.payload);
      },
      end: () => {
        for (const rec of splitter.flush()) this.writeRecord(stream, rec.tag, rec.payload);
      },
    };
  }

  /** Closes the file descriptor (reopened on the next write). */
  close(): void {
    if (this.fd !== undefined) {
      try {
        closeSync(this.fd);
      } catch {
        // the descriptor is already closed: nothing to release
      }
      this.fd = undefined;
    }
  }

  private writeRecord(stream: LogStream, tag: 'F' | 'P', payload: Buffer): void {
    const record = encodeCriRecord(criTimestamp(preciseNowNs()), stream, tag, payload);
    try {
      this.open();
      if (this.size > 0 && this.size + record.length > this.rotation.maxBytes) {
        this.rotate();
        this.open();
      }
      let off = 0;
      while (off < record.length) off += writeSync(this.fd as number, record, off);
      this.size += record.length;
      this.failed = false;
    } catch (err) {
      if (!this.failed) process.stderr.write(`berth-agent: cannot write ${this.path}: ${(err as Error).message}\n`);
      this.failed = true;
      this.close();
    }
  }

  private open(): void {
    if (this.fd !== undefined) return;
    mkdirSync(this.dir, { recursive: true });
    this.fd = openSync(this.path, 'a', 0o644);
    this.size = fstatSync(this.fd).size;
  }

  private rotate(): void {
    this.close();
    rmSync(`${this.path}.${this.rotation.keep}`, { force: true });
    for (let i = this.rotation.keep - 1; i >= 1; i--) {
      try {
        renameSync(`${this.path}.${i}`, `${this.path}.${i + 1}`);
      } catch {
        // that rotation generation does not exist yet
      }
    }
    if (this.rotation.keep >= 1) renameSync(this.path, `${this.path}.1`);
    else rmSync(this.path, { force: true });
  }
}
