// state.in-memory: Dapr's in-memory store — a map in the sidecar's process, gone when it stops.
// ETags are integers (a malformed one is a 400); TTL is checked on every read.
import { expiryOf } from './common.js';
import {
  ETagInvalidError,
  ETagMismatchError,
  type BulkGetItem,
  type DeleteRequest,
  type GetResponse,
  type SetRequest,
  type StateFeature,
  type StateStore,
  type TransactionOperation,
} from './state-store.js';

interface Entry {
  value: Buffer;
  etag: string;
  expiresAt?: number;
}

export class InMemoryStateStore implements StateStore {
  private readonly items = new Map<string, Entry>();
  private version = 0;
  /** Expired items nobody reads again are swept now and then, so they do not pile up. */
  private readonly sweeper = setInterval(() => this.sweep(), 30_000).unref();

  private sweep(): void {
    const now = Date.now();
    for (const [k, e] of this.items) if (e.expiresAt !== undefined && e.expiresAt <= now) this.items.delete(k);
  }

  features(): StateFeature[] {
    return ['ETAG', 'TRANSACTIONAL', 'TTL'];
  }

  private live(view: Map<string, Entry | undefined>, key: string, now: number): Entry | undefined {
    const e = view.has(key) ? view.get(key) : this.items.get(key);
    return e && (e.expiresAt === undefined || e.expiresAt > now) ? e : undefined;
  }

  private checkEtag(cur: Entry | undefined, key: string, etag: string | undefined, firstWrite: boolean): void {
    if (etag !== undefined && etag !== '') {
      if (!/^\d+$/.test(etag)) throw new ETagInvalidError(etag);
      if (!cur || cur.etag !== etag) throw new ETagMismatchError(key);
    } else if (firstWrite && cur) throw new ETagMismatchError(key);
  }

  /** Applies one operation to `view` (a staging overlay), throwing before changing anything on a mismatch. */
  private apply(view: Map<string, Entry | undefined>, op: TransactionOperation, now: number): void {
    const r = op.request;
    const cur = this.live(view, r.key, now);
    if (op.operation === 'upsert') {
      const expiresAt = expiryOf(op.request.ttlInSeconds, now);
      this.checkEtag(cur, r.key, r.etag, r.options?.concurrency === 'first-write');
      view.set(r.key, { value: Buffer.from(op.request.value), etag: String(++this.version), ...(expiresAt !== undefined ? { expiresAt } : {}) });
    } else {
      this.checkEtag(cur, r.key, r.etag, false);
      view.set(r.key, undefined);
    }
  }

  private commit(view: Map<string, Entry | undefined>): void {
    for (const [k, e] of view) {
      if (e) this.items.set(k, e);
      else this.items.delete(k);
    }
  }

  async get(key: string): Promise<GetResponse | undefined> {
    const e = this.live(new Map(), key, Date.now());
    if (!e) {
      this.items.delete(key);
      return undefined;
    }
    return { value: Buffer.from(e.value), etag: e.etag, ...(e.expiresAt !== undefined ? { expireTime: new Date(e.expiresAt) } : {}) };
  }

  async bulkGet(keys: string[]): Promise<BulkGetItem[]> {
    return Promise.all(keys.map(async (key) => {
      const item = await this.get(key);
      return item ? { key, item } : { key };
    }));
  }

  async set(request: SetRequest): Promise<void> {
    await this.transaction([{ operation: 'upsert', request }]);
  }

  async delete(request: DeleteRequest): Promise<void> {
    await this.transaction([{ operation: 'delete', request }]);
  }

  async transaction(ops: TransactionOperation[]): Promise<void> {
    const view = new Map<string, Entry | undefined>();
    const now = Date.now();
    for (const op of ops) this.apply(view, op, now);
    this.commit(view);
  }

  async close(): Promise<void> {
    clearInterval(this.sweeper);
    this.items.clear();
  }
}
