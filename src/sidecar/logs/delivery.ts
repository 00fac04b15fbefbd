// Delivery to one sink: a bounded queue (memory) or a disk buffer in front of the sink, one batch
// in flight, retries with exponential back-off and jitter (Retry-After honoured), and the full
// policy: `block` (the pipeline stops reading until there is room) or `drop_newest` (counted).
// `submit` resolves when the batch may count as delivered for checkpoints: once the sink
// acknowledged it (memory), or once it is durably in the disk buffer (disk).
import type { LogSink } from './sinks/sink.js';
import { SinkError } from './sinks/sink.js';
import { DiskBuffer } from './disk-buffer.js';
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
  log?: (msg: string) => void;
}

export interface DeliveryStats {
  sent: number;
  dropped: number;
  rejected: number;
  retries: number;
  queued: number;
  lastError?: string;
}

interface Queued {
  records: readonly LogRecord[];
  done: () => void;
}

export class Delivery {
  readonly stats: DeliveryStats = { sent: 0, dropped: 0, rejected: 0, retries: 0, queued: 0 };
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
    if (this.opts.whenFull !== 'block') return false;
    return this.disk ? this.disk.bytes >= this.opts.maxBytes : this.stats.queued >= this.opts.maxRecords;
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
      this.disk.append(records);
      this.stats.queued = this.disk.isEmpty ? 0 : this.stats.queued + records.length;
      this.wake();
      return Promise.resolve();
    }
    return new Promise((resolve) => {
      this.queue.push({ records, done: resolve });
      this.stats.queued += records.length;
      this.wake();
    });
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
    return this.queue.length === 0 && (!this.disk || this.disk.isEmpty) && !this.running;
  }

  private async work(): Promise<void> {
    if (!this.disk) return this.workMemory();
    // Disk: one batch at a time from the head of the buffer; the read position moves after the ack.
    while (!this.closed) {
      const next = this.disk.peek();
      if (!next) {
        if (this.isIdle()) for (const w of this.idleWaiters.splice(0)) w();
        await new Promise<void>((r) => (this.wakeWorker = r));
        continue;
      }
      this.running = true;
      const ok = await this.deliver(next.records);
      this.running = false;
      if (ok === 'closed') return;
      this.disk.ack(next.next, next.size);
      this.stats.queued = this.disk.isEmpty ? 0 : Math.max(0, this.stats.queued - next.records.length);
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
        void this.deliver(q.records).then((ok) => {
          inFlight--;
          if (ok === 'closed') return;
          done.add(q);
          while (this.queue.length > 0 && done.has(this.queue[0])) {
            const head = this.queue.shift() as Queued;
            done.delete(head);
            started--;
            this.stats.queued -= head.records.length;
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
  private async deliver(records: readonly LogRecord[]): Promise<'ok' | 'rejected' | 'closed'> {
    const max = this.opts.batchMaxRecords ?? records.length;
    for (let i = 0; i < records.length; i += max) {
      const part = max >= records.length ? records : records.slice(i, i + max);
      let attempt = 0;
      for (;;) {
        if (this.closed) return 'closed';
        try {
          await this.sink.send(part);
          this.stats.sent += part.length;
          this.stats.lastError = undefined;
          break;
        } catch (err) {
          const e = err instanceof SinkError ? err : new SinkError((err as Error).message, true);
          this.stats.lastError = e.message;
          if (!e.retryable) {
            this.stats.rejected += part.length;
            this.opts.log?.(`sink ${this.sink.name}: rejected ${part.length} records permanently: ${e.message}`);
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
    this.cancelSleep?.();
    this.wake();
    this.disk?.close();
    await this.sink.close();
  }
}
