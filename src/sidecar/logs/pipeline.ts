// The agent's main loop: tail → build records (parse, enrich) → hand each batch to every sink's
// delivery → advance checkpoints strictly in order once every sink accepted the batch. Stops
// reading while a `block` sink is full or too much is in flight, so memory stays bounded.
import type { Checkpoints } from './checkpoints.js';
import type { Delivery } from './delivery.js';
import type { RecordBuilder } from './enrich.js';
import { READ_MAX_BYTES, type Tailer, type TailedLine } from './tailer.js';

export interface PipelineOptions {
  /** Lines per batch (default 1000). */
  batchLines?: number;
  /** Batches in flight before reading pauses (default 4). */
  maxBatchesInFlight?: number;
  /** Checkpoint writes are coalesced to at most one per this many ms (default 200). */
  checkpointEveryMs?: number;
  /**
   * While lines keep coming, a batch short of batchLines is handed over at most once per this many ms
   * (default 200; 0: as soon as read). A line after a quiet spell goes at once, a full batch too:
   * this only stops a steady trickle (an access log at 1,000 req/s) from becoming hundreds of tiny
   * batches a second — each a request to the sink (Fluent Bit's `Flush`, Vector's batch timeout).
   */
  flushMs?: number;
  /**
   * A batch could not be handed to a sink (a defect, not a sink outage: those are retried inside
   * Delivery). Reading stops, the batch and everything after it stay uncheckpointed; the agent
   * process exits so its supervisor restarts it from the checkpoint. Default: log only.
   */
  onFatal?: (err: Error) => void;
}

export interface PipelineStats {
  linesRead: number;
  bytesRead: number;
  batches: number;
  committedBatches: number;
  blockedMs: number;
}

interface Commit {
  offset: number;
  path: string;
  store: Checkpoints;
}

interface InFlight {
  commits: Map<string, Commit>;
  done: boolean;
}

export class Pipeline {
  readonly stats: PipelineStats = { linesRead: 0, bytesRead: 0, batches: 0, committedBatches: 0, blockedMs: 0 };
  private readonly inFlight: InFlight[] = [];
  private stopped = false;
  private draining = false;
  private progress: (() => void) | undefined;
  private checkpointTimer: NodeJS.Timeout | undefined;
  private loop: Promise<void> | undefined;
  /** Set once a batch failed for good (see fail()). */
  failed: Error | undefined;

  constructor(
    private readonly tailer: Tailer,
    private readonly builder: RecordBuilder,
    private readonly deliveries: Delivery[],
    private readonly checkpoints: Checkpoints,
    private readonly opts: PipelineOptions = {},
    /** Checkpoints of the service's shared files (lines whose source is `shared`); default: `checkpoints`. */
    private readonly sharedCheckpoints: Checkpoints = checkpoints,
  ) {}

  start(): Promise<void> {
    this.loop ??= this.run();
    return this.loop;
  }

  private notify(): void {
    const p = this.progress;
    this.progress = undefined;
    p?.();
  }

  private waitForProgress(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const t = setTimeout(resolve, ms);
      this.progress = () => {
        clearTimeout(t);
        resolve();
      };
    });
  }

  private async run(): Promise<void> {
    const batchLines = this.opts.batchLines ?? 1000;
    const maxInFlight = this.opts.maxBatchesInFlight ?? 4;
    const flushMs = this.opts.flushMs ?? 200;
    const lines: TailedLine[] = [];
    /** Lines read and held for the next batch (flushMs), and their bytes. */
    let held = false;
    let heldBytes = 0;
    let lastDispatch = -Infinity;
    for (;;) {
      if (this.stopped && !this.draining) break;
      if (this.inFlight.length >= maxInFlight || this.deliveries.some((d) => d.full)) {
        const t0 = performance.now();
        await this.waitForProgress(100);
        this.stats.blockedMs += performance.now() - t0;
        continue;
      }
      if (!held) {
        lines.length = 0;
        heldBytes = 0;
      }
      const before = lines.length;
      this.tailer.read(batchLines, lines, READ_MAX_BYTES - heldBytes);
      this.tailer.flushIdle(lines, this.draining);
      for (let i = before; i < lines.length; i++) heldBytes += lines[i].line.bytes.length + 1;
      const wait = lastDispatch + flushMs - performance.now();
      if (lines.length > 0 && lines.length < batchLines && heldBytes < READ_MAX_BYTES && wait > 0 && !this.draining && !this.stopped) {
        held = true;
        await this.waitForProgress(wait); // or a stop() / an acknowledged batch, whichever comes first
        continue;
      }
      held = false;
      if (lines.length === 0) {
        // Draining (stop requested): everything the files held has been read (once no reader lock
        // is still being taken: its source would have lines to read).
        if (this.draining && !this.tailer.settling) break;
        await Promise.race([this.tailer.waitForData(), this.waitForProgress(this.draining ? 20 : 1000)]);
        continue;
      }
      lastDispatch = performance.now();
      try {
        this.dispatch(lines);
      } catch (err) {
        // A record or sink writer threw: same as a failed batch (nothing of it is checkpointed).
        this.fail(err instanceof Error ? err : new Error(String(err)));
        break;
      }
      // Let I/O callbacks (acks, fs events) run between batches.
      await new Promise<void>((r) => setImmediate(r));
    }
  }

  private dispatch(lines: TailedLine[]): void {
    const now = new Date().toISOString();
    const commits = new Map<string, Commit>();
    // Each record goes to every sink's writer as soon as it is built (and is garbage right after, for
    // sinks that encode record by record).
    const writers = this.deliveries.map((d) => d.writer());
    const nw = writers.length;
    let c: Commit | undefined;
    let cKey = '';
    for (let i = 0; i < lines.length; i++) {
      const l = lines[i];
      const rec = this.builder.buildRecord(l.line, l.source, now);
      for (let w = 0; w < nw; w++) writers[w].add(rec);
      this.stats.bytesRead += l.line.bytes.length + 1;
      const shared = l.source.shared === true;
      const key = shared ? '\u0001' + l.source.key : l.source.key;
      if (c === undefined || key !== cKey) {
        c = commits.get(key);
        cKey = key;
        if (!c) commits.set(key, (c = { offset: l.commitOffset, path: l.path, store: shared ? this.sharedCheckpoints : this.checkpoints }));
      }
      if (c.offset < l.commitOffset) {
        c.offset = l.commitOffset;
        c.path = l.path;
      }
    }
    this.stats.linesRead += lines.length;
    this.stats.batches++;
    const entry: InFlight = { commits, done: false };
    this.inFlight.push(entry);
    // Promise.resolve().then: a writer that throws instead of rejecting is caught the same way.
    Promise.resolve()
      .then(() => Promise.all(writers.map((w) => w.end())))
      .then(
        () => {
          entry.done = true;
          this.commitInOrder();
        },
        (err: unknown) => this.fail(err instanceof Error ? err : new Error(String(err))),
      )
      .catch((err: unknown) => this.fail(err instanceof Error ? err : new Error(String(err))));
  }

  /** A batch failed for good: stop reading and never checkpoint past it (see PipelineOptions.onFatal). */
  private fail(err: Error): void {
    if (this.failed) return;
    this.failed = err;
    this.stopped = true;
    this.draining = false;
    this.notify();
    process.stderr.write(`berth-logs: a batch could not be handed to the sinks: ${err.stack ?? err.message}\n`);
    this.opts.onFatal?.(err);
  }

  private commitInOrder(): void {
    let advanced = false;
    while (this.inFlight.length > 0 && this.inFlight[0].done) {
      const e = this.inFlight.shift() as InFlight;
      for (const [key, c] of e.commits) c.store.advance(key.charCodeAt(0) === 1 ? key.slice(1) : key, c.offset, c.path);
      this.stats.committedBatches++;
      advanced = true;
    }
    if (advanced) {
      this.checkpointTimer ??= setTimeout(() => {
        this.checkpointTimer = undefined;
        this.flushCheckpoints();
      }, this.opts.checkpointEveryMs ?? 200);
    }
    this.notify();
  }

  private flushCheckpoints(): void {
    try {
      this.checkpoints.flush();
      if (this.sharedCheckpoints !== this.checkpoints) this.sharedCheckpoints.flush();
    } catch (err) {
      process.stderr.write(`berth-logs: cannot write checkpoints: ${(err as Error).message}\n`);
    }
  }

  /** True when every batch read so far has been accepted by every sink. */
  get drained(): boolean {
    return this.inFlight.length === 0;
  }

  /**
   * Stops: first drains (reads what the files still hold, e.g. an app's last lines before its instance
   * goes away, and hands it to the sinks), then waits for in-flight batches — all within `graceMs` —
   * and writes the checkpoints. Whatever is not acknowledged by then is read again on the next start.
   */
  async stop(graceMs: number): Promise<void> {
    const deadline = performance.now() + graceMs;
    this.stopped = true;
    this.draining = true;
    this.notify();
    const hardStop = setTimeout(() => {
      this.draining = false;
      this.notify();
    }, Math.max(0, graceMs / 2));
    await this.loop;
    clearTimeout(hardStop);
    this.draining = false;
    while (this.inFlight.length > 0 && performance.now() < deadline) await this.waitForProgress(50);
    if (this.checkpointTimer) clearTimeout(this.checkpointTimer);
    this.checkpointTimer = undefined;
    this.flushCheckpoints();
  }
}
