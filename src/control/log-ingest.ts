// The control plane's side of log ingestion. Batches are parsed and written by one worker thread
// (log-writer-worker.ts) that owns the log database's only writing connection, so a 64 MiB upload
// never stalls the controllers sharing this event loop. In front of it, a bounded queue: a batch is
// admitted (counted from the moment its body starts arriving until its commit) only while fewer
// than `maxBatches` batches and `maxBytes` bytes are admitted; otherwise the route answers 503 with
// Retry-After and the sidecar keeps the batch and sends it again (at-least-once; record ids make a
// resent batch harmless). Reads use a separate read-only connection (WAL) on this thread.
import { Worker } from 'node:worker_threads';
import type { LogBatchVerdict } from './log-batch.js';
import { LogReader, retentionFromEnv, type LogRetention } from './log-store.js';
import type { WriterReply, WriterRequest, WriterStart } from './log-writer-protocol.js';

export interface LogIngestOptions {
  /** Batches admitted at once (arriving, queued or being written); default BERTH_LOG_INGEST_QUEUE or 16. */
  readonly maxBatches?: number;
  /**
   * Bytes admitted at once; default BERTH_LOG_INGEST_QUEUE_MB or 32 MiB (a few seconds of writing, well
   * inside a sender's 30 s timeout). A batch alone is always admitted.
   */
  readonly maxBytes?: number;
  readonly retention?: LogRetention;
}

/** Room reserved for one batch; released once it is answered. */
export interface IngestSlot {
  release(): void;
}

export interface LogIngestStats {
  /** Batches admitted so far. */
  admitted: number;
  /** Batches refused because the queue was full (answered 503). */
  refused: number;
  /** Batches the writer thread answered. */
  written: number;
}

/** The thread stopped (crashed, or its database could not be opened): the batch may or may not be stored. */
export class LogWriterUnavailable extends Error {}

/** A thread that stopped (say its database cannot be opened) is started again at most this often. */
const RESTART_AFTER_MS = 1000;

const positive = (v: string | undefined): number | undefined => (v !== undefined && Number(v) > 0 ? Number(v) : undefined);

export class LogIngest {
  readonly stats: LogIngestStats = { admitted: 0, refused: 0, written: 0 };
  private readonly maxBatches: number;
  private readonly maxBytes: number;
  private readonly retention: LogRetention;
  private batches = 0;
  private bytes = 0;
  private worker: Worker | undefined;
  private ready: Promise<void> | undefined;
  private readonly pending = new Map<number, { bytes: number; resolve: (v: LogBatchVerdict) => void; reject: (e: Error) => void }>();
  /** Bytes the writer thread commits per millisecond (moving average); undefined before the first batch. */
  private writeRate: number | undefined;
  private nextId = 1;
  private logReader: LogReader | undefined;
  private closed = false;
  private onBusyChange: () => void = () => {};
  /** The last time the thread stopped, and why: it is not started again sooner than RESTART_AFTER_MS. */
  private lastFailure: { at: number; error: LogWriterUnavailable } | undefined;

  constructor(
    readonly path: string,
    opts: LogIngestOptions = {},
    env: NodeJS.ProcessEnv = process.env,
  ) {
    this.maxBatches = opts.maxBatches ?? positive(env.BERTH_LOG_INGEST_QUEUE) ?? 16;
    this.maxBytes = opts.maxBytes ?? (positive(env.BERTH_LOG_INGEST_QUEUE_MB) ?? 32) * 1024 * 1024;
    this.retention = opts.retention ?? retentionFromEnv(env);
  }

  /** Batches and bytes admitted now (arriving, queued or being written). */
  depth(): { batches: number; bytes: number } {
    return { batches: this.batches, bytes: this.bytes };
  }

  /** What a refused sender should wait, in whole seconds: about the time to write what is queued (1–30). */
  retryAfterSeconds(): number {
    if (this.writeRate === undefined) return 1;
    return Math.min(30, Math.max(1, Math.ceil(this.bytes / this.writeRate / 1000)));
  }

  /** Reserves room for a batch of `bytes` (its Content-Length, or the most allowed); undefined when full (answer 503). */
  admit(bytes: number): IngestSlot | undefined {
    if (this.batches > 0 && (this.batches >= this.maxBatches || this.bytes + bytes > this.maxBytes)) {
      this.stats.refused++;
      return undefined;
    }
    this.batches++;
    this.bytes += bytes;
    this.stats.admitted++;
    let released = false;
    return {
      release: () => {
        if (released) return;
        released = true;
        this.batches--;
        this.bytes -= bytes;
      },
    };
  }

  /**
   * Hands a received body to the writer thread (its memory moves there: `raw` is unusable afterwards);
   * resolves with the verdict once the batch is committed, or rejects with LogWriterUnavailable.
   */
  async write(raw: Uint8Array, scopeService?: string): Promise<LogBatchVerdict> {
    if (this.closed) throw new LogWriterUnavailable('log store closed');
    this.startWorker();
    const worker = this.worker as Worker;
    // Only a buffer that is wholly this body may be transferred (a small Buffer can be a slice of Node's shared pool).
    const own = raw.byteOffset === 0 && raw.byteLength === raw.buffer.byteLength && raw.buffer instanceof ArrayBuffer ? raw : new Uint8Array(raw);
    const id = this.nextId++;
    const verdict = new Promise<LogBatchVerdict>((resolve, reject) => this.pending.set(id, { bytes: own.byteLength, resolve, reject }));
    this.onBusyChange();
    worker.postMessage({ kind: 'batch', id, raw: own, ...(scopeService !== undefined ? { scopeService } : {}) } satisfies WriterRequest, [own.buffer as ArrayBuffer]);
    return verdict;
  }

  /** The read-only connection (opened once the writer thread has created the database). */
  async reader(): Promise<LogReader> {
    if (this.logReader) return this.logReader;
    if (this.closed) throw new LogWriterUnavailable('log store closed');
    this.startWorker();
    await this.ready;
    return (this.logReader ??= new LogReader(this.path));
  }

  /** Lets the batches already handed over commit, then stops the thread. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.logReader?.close();
    this.logReader = undefined;
    const w = this.worker;
    if (!w) return;
    w.ref(); // until it has exited
    const exited = new Promise<void>((r) => w.once('exit', () => r()));
    w.postMessage({ kind: 'close' } satisfies WriterRequest);
    await exited;
  }

  private startWorker(): void {
    if (this.worker) return;
    if (this.lastFailure && performance.now() - this.lastFailure.at < RESTART_AFTER_MS) throw this.lastFailure.error;
    const w = new Worker(new URL('./log-writer-worker.js', import.meta.url), { workerData: { path: this.path, retention: this.retention } satisfies WriterStart });
    this.worker = w;
    let started = false;
    // The thread keeps the process alive only while something waits on it (it starting, a batch):
    // an idle writer must not keep a control plane that is otherwise done from exiting.
    const holdWhileBusy = (): void => void (this.worker === w && (!started || this.pending.size > 0) ? w.ref() : w.unref());
    this.onBusyChange = holdWhileBusy;
    let markReady: () => void = () => {};
    let failReady: (e: Error) => void = () => {};
    this.ready = new Promise<void>((resolve, reject) => {
      markReady = resolve;
      failReady = reject;
    });
    // reader() awaits it; a failure with no reader waiting is reported through the pending batches.
    this.ready.catch(() => {});
    const fail = (e: Error): void => {
      if (this.worker !== w) return;
      this.worker = undefined;
      w.unref();
      const err = new LogWriterUnavailable(`log writer thread stopped: ${e.message}`);
      this.lastFailure = { at: performance.now(), error: err };
      failReady(err);
      for (const p of this.pending.values()) p.reject(err);
      this.pending.clear();
    };
    w.on('message', (m: WriterReply) => {
      if (m.kind === 'ready') {
        started = true;
        holdWhileBusy();
        return markReady();
      }
      const p = this.pending.get(m.id);
      if (!p) return;
      this.pending.delete(m.id);
      this.stats.written++;
      if (p.bytes > 0 && m.ms > 0) {
        const rate = p.bytes / m.ms;
        this.writeRate = this.writeRate === undefined ? rate : 0.8 * this.writeRate + 0.2 * rate;
      }
      holdWhileBusy();
      p.resolve(m.verdict);
    });
    w.on('error', fail);
    w.on('exit', (code) => fail(new Error(`exited with code ${code}`)));
  }
}
