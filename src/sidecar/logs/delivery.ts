// Delivery to one sink: a bounded queue (memory) or a disk buffer in front of the sink, one batch
// in flight, retries with exponential back-off and jitter (Retry-After honoured), and the full
// policy: `block` (the pipeline stops reading until there is room) or `drop_newest` (counted).
// `submit` resolves when the batch may count as delivered for checkpoints: once the sink
// acknowledged it (memory), or once it is durably in the disk buffer (disk).
// A full disk is a full buffer: the batch that did not fit waits in memory, `full` stops the
// pipeline from reading more, the sink keeps draining, and the append is retried until it fits.
import type { EncodedBatch, LogSink, RecordEncoder } from './sinks/sink.js';
import { SinkError } from './sinks/sink.js';
import { DiskBuffer, DiskFullError } from './disk-buffer.js';
import { toPlainRecord } from './enrich.js';
import type { LogRecord } from './record.js';
import { retryDelayMs, DEFAULT_BACKOFF, type BackoffOptions } from './retry.js';
import type { RouteFilter } from './route.js';

export interface DeliveryOptions {
  maxRecords: number;
  maxBytes: number;
  whenFull: 'block' | 'drop_newest';
  /** Disk buffer directory (disk buffering), else memory. */
  diskDir?: string;
  backoff?: BackoffOptions;
  /** Largest batch handed to the sink at once. */
  batchMaxRecords?: number;
  /** Batches sent at the same time (memory buffer; default 4). The disk buffer sends one at a time. */
  concurrency?: number;
  /** While the disk is full, how often appending to the disk buffer is tried again (default 1000 ms). */
  diskRetryMs?: number;
  log?: (msg: string) => void;
}

export interface DeliveryStats {
  sent: number;
  dropped: number;
  rejected: number;
  retries: number;
  queued: number;
  /** True while the disk buffer cannot be written (no space left): reading is paused. */
  diskFull: boolean;
  /** How many times the disk buffer became full: the node agent turns each into an event, even one shorter than a status tick. */
  diskFullPauses: number;
  /** Why the disk buffer cannot be written, while diskFull (lastError is also a sink's last failure). */
  diskError?: string;
  lastError?: string;
}

/** Takes one batch record by record (see Delivery.writer). */
export interface BatchWriter {
  add(record: LogRecord): void;
  /** Hands the batch over: resolves like submit(). */
  end(): Promise<void>;
}

interface Queued {
  /** Records (sinks without `encode`), or the batch already encoded in parts of ≤ batchMaxRecords. */
  records?: readonly LogRecord[];
  parts?: EncodedBatch[];
  count: number;
  done: () => void;
}

export class Delivery {
  readonly stats: DeliveryStats = { sent: 0, dropped: 0, rejected: 0, retries: 0, queued: 0, diskFull: false, diskFullPauses: 0 };
  /** Batches that did not fit on a full disk, in order, with the resolve of their submit(). */
  private readonly waitingForDisk: { records: readonly LogRecord[]; done: () => void }[] = [];
  private diskRetry: NodeJS.Timeout | undefined;
  private readonly queue: Queued[] = [];
  private readonly disk: DiskBuffer | undefined;
  private running = false;
  private closed = false;
  private wakeWorker: (() => void) | undefined;
  private cancelSleep: (() => void) | undefined;
  private idleWaiters: (() => void)[] = [];

  constructor(
    readonly sink: LogSink,
    readonly filter: RouteFilter | undefined,
    private readonly opts: DeliveryOptions,
  ) {
    if (opts.diskDir) this.disk = new DiskBuffer(opts.diskDir);
    void this.work();
  }

  /** True when the policy is block and there is no room: the pipeline must not read more. */
  get full(): boolean {
    if (this.stats.diskFull) return true;
    if (this.opts.whenFull !== 'block') return false;
    return this.disk ? this.disk.bytes >= this.opts.maxBytes : this.stats.queued >= this.opts.maxRecords;
  }

  /**
   * Streaming form of submit(): where the sink encodes record by record (memory buffer, `block`),
   * each record is encoded as it is added and can be dropped at once, so a batch's records never
   * pile up in the heap; otherwise the records are collected and submitted at end().
   */
  writer(): BatchWriter {
    const sink = this.sink;
    const first = !this.disk && this.opts.whenFull === 'block' && sink.encoder && sink.sendEncoded ? sink.encoder() : undefined;
    if (!first || !sink.encoder) {
      const records: LogRecord[] = [];
      return { add: (r) => void records.push(r), end: () => this.submit(records) };
    }
    const newEncoder = sink.encoder.bind(sink) as () => RecordEncoder;
    const filter = this.filter;
    const max = this.opts.batchMaxRecords ?? Infinity;
    const parts: EncodedBatch[] = [];
    let enc: RecordEncoder | undefined = first;
    let n = 0;
    let count = 0;
    return {
      add: (r) => {
        if (filter && !filter(r)) return;
        (enc ??= newEncoder()).add(r);
        count++;
        if (++n >= max) {
          parts.push(enc.finish());
          enc = undefined;
          n = 0;
        }
      },
      end: () => {
        if (enc && n > 0) parts.push(enc.finish());
        if (count === 0) return Promise.resolve();
        return new Promise((resolve) => {
          this.queue.push({ parts, count, done: resolve });
          this.stats.queued += count;
          this.wake();
        });
      },
    };
  }

  /** Hands a batch to this sink (already routed). See the class comment for when it resolves. */
  submit(all: readonly LogRecord[]): Promise<void> {
    const records = this.filter ? all.filter(this.filter) : all;
    if (records.length === 0) return Promise.resolve();
    if (this.opts.whenFull === 'drop_newest') {
      const over = this.disk ? this.disk.bytes >= this.opts.maxBytes : this.stats.queued + records.length > this.opts.maxRecords;
      if (over) {
        this.stats.dropped += records.length;
        return Promise.resolve();
      }
    }
    if (this.disk) {
      return new Promise((resolve) => {
        this.waitingForDisk.push({ records, done: resolve });
        this.appendWaiting();
      });
    }
    // Encoded right away where the sink can: what waits for the acknowledgement is then the wire
    // form (outside the JS heap), not the records.
    const parts = this.encode(records);
    const count = records.length;
    return new Promise((resolve) => {
      this.queue.push(parts ? { parts, count, done: resolve } : { records: records.map(toPlainRecord), count, done: resolve });
      this.stats.queued += count;
      this.wake();
    });
  }

  /** Appends the batches waiting for the disk, in order, until the disk is full (then retries later). */
  private appendWaiting(): void {
    const disk = this.disk as DiskBuffer;
    while (this.waitingForDisk.length > 0 && !this.closed) {
      const w = this.waitingForDisk[0];
      try {
        try {
          disk.append(w.records);
        } catch (err) {
          if (!(err instanceof DiskFullError)) throw err;
          // Space held by batches already delivered comes back first.
          disk.reclaim();
          disk.append(w.records);
        }
      } catch (err) {
        // Any write error (a full disk above all) pauses reading like a full buffer; never a crash.
        if (!this.stats.diskFull) {
          this.stats.diskFull = true;
          this.stats.diskFullPauses++;
          this.stats.lastError = (err as Error).message;
          this.stats.diskError = (err as Error).message;
          const why = err instanceof DiskFullError ? `disk full (${err.cause.message})` : `disk buffer not writable (${(err as Error).message})`;
          this.opts.log?.(`sink ${this.sink.name}: ${why}; reading paused, delivering what is buffered, retrying`);
        }
        this.diskRetry ??= setTimeout(() => {
          this.diskRetry = undefined;
          this.appendWaiting();
        }, this.opts.diskRetryMs ?? 1000);
        return;
      }
      this.waitingForDisk.shift();
      this.stats.queued = disk.isEmpty ? 0 : this.stats.queued + w.records.length;
      this.wake();
      w.done();
    }
    if (this.stats.diskFull && this.waitingForDisk.length === 0) {
      this.stats.diskFull = false;
      this.stats.diskError = undefined;
      this.opts.log?.(`sink ${this.sink.name}: disk space available again; reading resumed`);
    }
  }

  private encode(records: readonly LogRecord[]): EncodedBatch[] | undefined {
    const sink = this.sink;
    if (!sink.encode || !sink.sendEncoded) return undefined;
    const max = this.opts.batchMaxRecords ?? records.length;
    const parts: EncodedBatch[] = [];
    try {
      for (let i = 0; i < records.length; i += max) parts.push(sink.encode(max >= records.length ? records : records.slice(i, i + max)));
    } catch {
      return undefined; // send() will say what is wrong (and it is retried like any failure)
    }
    return parts;
  }

  private wake(): void {
    const w = this.wakeWorker;
    this.wakeWorker = undefined;
    w?.();
  }

  /** Resolves when nothing is queued (tests, graceful shutdown). */
  idle(): Promise<void> {
    if (this.isIdle()) return Promise.resolve();
    return new Promise((r) => this.idleWaiters.push(r));
  }

  private isIdle(): boolean {
    return this.queue.length === 0 && this.waitingForDisk.length === 0 && (!this.disk || this.disk.isEmpty) && !this.running;
  }

  private async work(): Promise<void> {
    if (!this.disk) return this.workMemory();
    // Disk: one batch at a time from the head of the buffer; the read position moves after the ack.
    let failures = 0;
    while (!this.closed) {
      try {
        const next = this.disk.peek();
        if (!next) {
          if (this.isIdle()) for (const w of this.idleWaiters.splice(0)) w();
          await new Promise<void>((r) => (this.wakeWorker = r));
          continue;
        }
        this.running = true;
        const ok = await this.deliver({ records: next.records.map(toPlainRecord), count: next.records.length, done: () => {} });
        this.running = false;
        if (ok === 'closed') return;
        this.disk.ack(next.next, next.size);
        this.stats.queued = this.disk.isEmpty ? 0 : Math.max(0, this.stats.queued - next.records.length);
        failures = 0;
        // An acknowledgement may have freed a segment: a batch waiting for space may fit now.
        if (this.waitingForDisk.length > 0) this.appendWaiting();
      } catch (err) {
        // Reading the buffer failed (I/O error): say so and try again later rather than end the process.
        this.running = false;
        failures++;
        if (failures === 1 || failures % 20 === 0) this.opts.log?.(`sink ${this.sink.name}: disk buffer: ${(err as Error).message}; retrying`);
        await this.sleep(retryDelayMs(failures, undefined, this.opts.backoff ?? DEFAULT_BACKOFF));
      }
    }
  }

  /** Memory: up to `concurrency` batches in flight; acknowledgements are released in submission order. */
  private async workMemory(): Promise<void> {
    const concurrency = this.opts.concurrency ?? 4;
    let started = 0; // queue entries [0, started) are in flight or done
    let inFlight = 0;
    const done = new Set<Queued>();
    while (!this.closed) {
      if (inFlight < concurrency && started < this.queue.length) {
        const q = this.queue[started++];
        inFlight++;
        this.running = true;
        void this.deliver(q).then((ok) => {
          inFlight--;
          if (ok === 'closed') return;
          done.add(q);
          while (this.queue.length > 0 && done.has(this.queue[0])) {
            const head = this.queue.shift() as Queued;
            done.delete(head);
            started--;
            this.stats.queued -= head.count;
            head.done();
          }
          this.running = inFlight > 0;
          this.wake();
        });
        continue;
      }
      if (this.isIdle()) for (const w of this.idleWaiters.splice(0)) w();
      await new Promise<void>((r) => (this.wakeWorker = r));
    }
  }

  /** Sends with retries until acknowledged (or permanently rejected: counted). */
  private async deliver(q: Queued): Promise<'ok' | 'rejected' | 'closed'> {
    const records = q.records ?? [];
    const max = this.opts.batchMaxRecords ?? records.length;
    const nParts = q.parts ? q.parts.length : Math.ceil(records.length / max);
    for (let p = 0; p < nParts; p++) {
      const encoded = q.parts?.[p];
      const part = encoded ? undefined : max >= records.length ? records : records.slice(p * max, p * max + max);
      const length = encoded ? encoded.count : (part as readonly LogRecord[]).length;
      let attempt = 0;
      for (;;) {
        if (this.closed) return 'closed';
        try {
          if (encoded) await (this.sink.sendEncoded as (b: EncodedBatch) => Promise<void>).call(this.sink, encoded);
          else await this.sink.send(part as readonly LogRecord[]);
          this.stats.sent += length;
          this.stats.lastError = undefined;
          encoded?.release?.();
          break;
        } catch (err) {
          const e = err instanceof SinkError ? err : new SinkError((err as Error).message, true);
          this.stats.lastError = e.message;
          if (!e.retryable) {
            this.stats.rejected += length;
            this.opts.log?.(`sink ${this.sink.name}: rejected ${length} records permanently: ${e.message}`);
            encoded?.release?.();
            break;
          }
          attempt++;
          this.stats.retries++;
          if (attempt === 1 || attempt % 20 === 0) this.opts.log?.(`sink ${this.sink.name}: ${e.message}; retrying (attempt ${attempt})`);
          await this.sleep(retryDelayMs(attempt, e.retryAfterMs, this.opts.backoff ?? DEFAULT_BACKOFF));
        }
      }
    }
    return 'ok';
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const t = setTimeout(resolve, ms);
      this.cancelSleep = () => {
        clearTimeout(t);
        resolve();
      };
    });
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.diskRetry) clearTimeout(this.diskRetry);
    this.diskRetry = undefined;
    this.cancelSleep?.();
    this.wake();
    this.disk?.close();
    await this.sink.close();
  }
}
