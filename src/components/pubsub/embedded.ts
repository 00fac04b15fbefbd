// pubsub.sqlite: the embedded durable pub/sub behind the default `pubsub` component. Messages and
// per-group deliveries live in one SQLite file (WAL), so they survive a restart of the process
// that holds it. A delivery is leased when handed out: an ack deletes it, a retry moves its
// visibility into the future, and a lease that runs out (the holder died) makes it visible again.
import { EventEmitter } from 'node:events';
import { mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import Database from 'better-sqlite3';
import type { ComponentSpec } from '../component.js';
import { BrokerPubSub, type Consumer, type Delivery, type PubSubContext, type WireMessage } from './broker.js';
import type { PubSubFeature } from './types.js';

interface ClaimedRow {
  seq: number;
  attempts: number;
  id: string;
  data: Buffer;
  content_type: string;
  metadata: string;
  expires_at: number | null;
}

const SCHEMA = `
CREATE TABLE IF NOT EXISTS messages (
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
  topic TEXT NOT NULL, id TEXT NOT NULL, data BLOB NOT NULL, content_type TEXT NOT NULL,
  metadata TEXT NOT NULL, expires_at INTEGER, published_at INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS groups (topic TEXT NOT NULL, name TEXT NOT NULL, PRIMARY KEY (topic, name));
CREATE TABLE IF NOT EXISTS deliveries (
  topic TEXT NOT NULL, grp TEXT NOT NULL, seq INTEGER NOT NULL,
  attempts INTEGER NOT NULL DEFAULT 0, visible_at INTEGER NOT NULL DEFAULT 0,
  PRIMARY KEY (topic, grp, seq));
CREATE INDEX IF NOT EXISTS deliveries_ready ON deliveries (topic, grp, visible_at);
CREATE INDEX IF NOT EXISTS deliveries_seq ON deliveries (seq);
`;

export class EmbeddedPubSub extends BrokerPubSub {
  readonly type = 'pubsub.sqlite';
  readonly file: string;
  private readonly db: Database.Database;
  private readonly wake = new EventEmitter();
  private readonly leaseMs: number;
  private readonly pollMs: number;
  private readonly maxInflight: number;
  private readonly stmts;
  private readonly pending: { run: () => void; resolve: () => void; reject: (e: Error) => void }[] = [];
  private readonly batchTxn: (batch: { run: () => void }[]) => void;
  private readonly claimTxn: (args: { lease: number; topic: string; grp: string; now: number; n: number }) => ClaimedRow[];

  constructor(spec: ComponentSpec, ctx: PubSubContext = {}) {
    super(spec, ctx);
    this.file = this.meta.string('connectionString') ?? join(ctx.stateDir ?? '.berth', `pubsub-${spec.name}.db`);
    this.leaseMs = this.meta.duration('processingTimeout', 60_000);
    this.pollMs = this.meta.duration('pollInterval', 100);
    this.maxInflight = Math.max(1, this.meta.int('concurrency', 16));
    mkdirSync(dirname(this.file), { recursive: true });
    this.db = new Database(this.file);
    this.db.pragma('journal_mode = WAL');
    this.db.pragma('busy_timeout = 5000');
    this.db.pragma('synchronous = NORMAL');
    this.db.exec(SCHEMA);
    this.wake.setMaxListeners(0);
    this.stmts = {
      insert: this.db.prepare(
        'INSERT INTO messages (topic, id, data, content_type, metadata, expires_at, published_at) VALUES (?, ?, ?, ?, ?, ?, ?)',
      ),
      fanout: this.db.prepare('INSERT INTO deliveries (topic, grp, seq) SELECT topic, name, ? FROM groups WHERE topic = ?'),
      dropOrphan: this.db.prepare('DELETE FROM messages WHERE seq = ? AND NOT EXISTS (SELECT 1 FROM deliveries WHERE seq = ?)'),
      addGroup: this.db.prepare('INSERT OR IGNORE INTO groups (topic, name) VALUES (?, ?)'),
      claim: this.db.prepare(`
        UPDATE deliveries SET attempts = attempts + 1, visible_at = @lease
        WHERE rowid IN (SELECT rowid FROM deliveries WHERE topic = @topic AND grp = @grp AND visible_at <= @now ORDER BY seq LIMIT @n)
        RETURNING seq, attempts`),
      message: this.db.prepare('SELECT id, data, content_type, metadata, expires_at FROM messages WHERE seq = ?'),
      ack: this.db.prepare('DELETE FROM deliveries WHERE topic = ? AND grp = ? AND seq = ?'),
      retry: this.db.prepare('UPDATE deliveries SET visible_at = ? WHERE topic = ? AND grp = ? AND seq = ?'),
      // only while nobody else took it over (same delivery count)
      extend: this.db.prepare('UPDATE deliveries SET visible_at = ? WHERE topic = ? AND grp = ? AND seq = ? AND attempts = ?'),
    };
    this.batchTxn = this.db.transaction((batch: { run: () => void }[]) => {
      for (const w of batch) w.run();
    });
    this.claimTxn = this.db.transaction((args: { lease: number; topic: string; grp: string; now: number; n: number }) => {
      const rows = this.stmts.claim.all(args) as { seq: number; attempts: number }[];
      return rows.map((r) => ({ ...r, ...(this.stmts.message.get(r.seq) as Omit<ClaimedRow, 'seq' | 'attempts'>) }));
    });
  }

  features(): PubSubFeature[] {
    return ['MESSAGE_TTL'];
  }

  async ping(): Promise<boolean> {
    if (this.closed) return false;
    this.db.prepare('SELECT 1').get();
    return true;
  }

  protected async publishWire(topic: string, m: WireMessage): Promise<void> {
    await this.write(() => {
      const { lastInsertRowid } = this.stmts.insert.run(topic, m.id, m.data, m.contentType, JSON.stringify(m.metadata), m.expiresAt ?? null, Date.now());
      const seq = Number(lastInsertRowid);
      this.stmts.fanout.run(seq, topic);
      this.stmts.dropOrphan.run(seq, seq); // no group subscribed yet: nobody to deliver to
    });
    this.wake.emit(topic);
  }

  /**
   * Group commit: writes asked for in the same turn of the event loop share one transaction, and
   * each caller resolves only once it is committed. When the shared transaction fails, each write
   * runs alone, so one bad write fails only its own caller.
   */
  private write(run: () => void): Promise<void> {
    return new Promise((resolve, reject) => {
      this.pending.push({ run, resolve, reject });
      if (this.pending.length === 1) setImmediate(() => this.flush());
    });
  }

  private flush(): void {
    const batch = this.pending.splice(0);
    if (batch.length === 0) return;
    if (!this.db.open) {
      for (const w of batch) w.reject(new Error(`pub/sub ${this.name} is closed`));
      return;
    }
    try {
      this.batchTxn(batch);
      for (const w of batch) w.resolve();
    } catch {
      for (const w of batch) {
        try {
          this.db.transaction(w.run)();
          w.resolve();
        } catch (err) {
          w.reject(err as Error);
        }
      }
    }
  }

  protected async openConsumer(topic: string, grp: string, deliver: (d: Delivery) => void): Promise<Consumer> {
    this.stmts.addGroup.run(topic, grp);
    let stopped = false;
    let inflight = 0;
    const alive = new Set<NodeJS.Timeout>();
    let timer: NodeJS.Timeout | undefined;
    const finish = (): void => {
      inflight--;
      schedule(0);
    };
    const pump = (): void => {
      timer = undefined;
      if (stopped || this.closed) return;
      const want = this.maxInflight - inflight;
      if (want > 0) {
        const now = Date.now();
        const claimed = this.claimTxn({ lease: now + this.leaseMs, topic, grp, now, n: want });
        for (const row of claimed) {
          inflight++;
          let settled = false;
          // A slow handler keeps its lease; a dead holder stops extending it and loses it.
          const keepAlive = setInterval(() => {
            if (this.db.open) this.stmts.extend.run(Date.now() + this.leaseMs, topic, grp, row.seq, row.attempts);
          }, Math.max(50, this.leaseMs / 3));
          keepAlive.unref();
          alive.add(keepAlive);
          const stopKeepAlive = (): void => {
            clearInterval(keepAlive);
            alive.delete(keepAlive);
          };
          deliver({
            message: {
              id: row.id,
              data: row.data,
              contentType: row.content_type,
              metadata: JSON.parse(row.metadata) as Record<string, string>,
              expiresAt: row.expires_at ?? undefined,
            },
            attempt: row.attempts,
            ack: async () => {
              if (settled) return;
              settled = true;
              stopKeepAlive();
              finish();
              // If this write is lost (closed meanwhile), the lease runs out and it is redelivered.
              await this.write(() => {
                this.stmts.ack.run(topic, grp, row.seq);
                this.stmts.dropOrphan.run(row.seq, row.seq);
              });
            },
            retryLater: async (delayMs) => {
              if (settled) return;
              settled = true;
              stopKeepAlive();
              finish();
              await this.write(() => this.stmts.retry.run(Date.now() + delayMs, topic, grp, row.seq));
            },
          });
        }
        if (claimed.length > 0 && claimed.length === want) return schedule(0);
      }
      schedule(this.pollMs);
    };
    const schedule = (ms: number): void => {
      if (stopped || this.closed) return;
      if (timer) {
        if (ms > 0) return;
        clearTimeout(timer);
      }
      timer = setTimeout(pump, ms);
    };
    const onWake = (): void => schedule(0);
    this.wake.on(topic, onWake);
    schedule(0);
    return {
      close: async () => {
        stopped = true;
        for (const t of alive) clearInterval(t);
        alive.clear();
        if (timer) clearTimeout(timer);
        this.wake.off(topic, onWake);
      },
    };
  }

  protected async closeBackend(): Promise<void> {
    this.flush(); // writes already asked for are committed before the file is closed
    this.wake.removeAllListeners();
    this.db.close();
  }

  /** For tests and `berth` diagnostics: deliveries waiting per group. */
  backlog(topic: string, grp: string): number {
    return (this.db.prepare('SELECT COUNT(*) AS n FROM deliveries WHERE topic = ? AND grp = ?').get(topic, grp) as { n: number }).n;
  }
}
