// file sink: JSON lines appended to a file, fsync'ed before acknowledging, rotated by size
// (path → path.1 → … → path.<keep>).
import { closeSync, fstatSync, fsyncSync, mkdirSync, openSync, renameSync, rmSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';
import { JsonLinesSink } from './encode.js';
import { SinkError, type EncodedBatch, type EncodedBody, type LogSink, type SinkFeature } from './sink.js';

export interface FileSinkOptions {
  path: string;
  maxBytes?: number;
  keep?: number;
}

export class FileSink extends JsonLinesSink implements LogSink {
  readonly type = 'file';
  readonly features: readonly SinkFeature[] = ['ack', 'batch', 'fields'];
  private fd: number | undefined;
  private size = 0;

  constructor(
    readonly name: string,
    private readonly opts: FileSinkOptions,
  ) {
    super();
  }

  async sendEncoded(batch: EncodedBatch): Promise<void> {
    const buf = (batch as EncodedBody).body;
    try {
      this.open();
      if (this.size > 0 && this.size + buf.length > (this.opts.maxBytes ?? 64 * 1024 * 1024)) this.rotate();
      let off = 0;
      while (off < buf.length) off += writeSync(this.fd as number, buf, off);
      fsyncSync(this.fd as number);
      this.size += buf.length;
    } catch (err) {
      this.closeFd();
      throw new SinkError(`cannot write ${this.opts.path}: ${(err as Error).message}`, true);
    }
  }

  private open(): void {
    if (this.fd !== undefined) return;
    mkdirSync(dirname(this.opts.path), { recursive: true });
    this.fd = openSync(this.opts.path, 'a', 0o644);
    this.size = fstatSync(this.fd).size;
  }

  private rotate(): void {
    this.closeFd();
    const keep = this.opts.keep ?? 3;
    rmSync(`${this.opts.path}.${keep}`, { force: true });
    for (let i = keep - 1; i >= 1; i--) {
      try {
        renameSync(`${this.opts.path}.${i}`, `${this.opts.path}.${i + 1}`);
      } catch {
        // that rotation generation does not exist yet
      }
    }
    if (keep >= 1) renameSync(this.opts.path, `${this.opts.path}.1`);
    else rmSync(this.opts.path, { force: true });
    this.open();
  }

  private closeFd(): void {
    if (this.fd !== undefined) {
      try {
        closeSync(this.fd);
      } catch {
        // the descriptor is already closed: nothing to release
      }
    }
    this.fd = undefined;
  }

  async close(): Promise<void> {
    this.closeFd();
  }
}
