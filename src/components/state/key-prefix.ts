// Keys stored as Dapr stores them: `<appId>||<key>` by default, or per the component's
// `keyPrefix` metadata (appid | name | none | any other string). The app sees its own keys only.
import {
  StateRequestError,
  type BulkGetItem,
  type DeleteRequest,
  type GetResponse,
  type QueryRequest,
  type QueryResponse,
  type SetRequest,
  type StateFeature,
  type StateStore,
  type TransactionOperation,
} from './state-store.js';

export const KEY_SEPARATOR = '||';

/** The prefix (without the separator) for a component's `keyPrefix`; undefined for `none`. */
export function keyPrefixFor(strategy: string | undefined, appId: string, storeName: string): string | undefined {
  const s = (strategy ?? 'appid').trim();
  const lower = s.toLowerCase();
  if (lower === '' || lower === 'appid') return appId;
  if (lower === 'name') return storeName;
  if (lower === 'none') return undefined;
  if (s.includes(KEY_SEPARATOR)) throw new StateRequestError(`keyPrefix ${JSON.stringify(s)} can't contain ${JSON.stringify(KEY_SEPARATOR)}`);
  return s;
}

/** A StateStore that adds the prefix on the way in and strips it on the way out. */
export class PrefixedStateStore implements StateStore {
  readonly query?: (req: QueryRequest) => Promise<QueryResponse>;

  constructor(
    private readonly inner: StateStore,
    private readonly prefix: string | undefined,
  ) {
    const q = inner.query?.bind(inner);
    if (q) {
      this.query = async (req) => {
        const full = this.prefix === undefined ? '' : this.prefix + KEY_SEPARATOR;
        const res = await q({ ...req, keyPrefix: full });
        return { ...res, results: res.results.map((r) => ({ ...r, key: r.key.slice(full.length) })) };
      };
    }
  }

  private full(key: string): string {
    if (typeof key !== 'string' || key === '') throw new StateRequestError('a state key must not be empty');
    if (this.prefix === undefined) return key;
    if (key.includes(KEY_SEPARATOR)) throw new StateRequestError(`input key ${JSON.stringify(key)} can't contain ${JSON.stringify(KEY_SEPARATOR)}`);
    return this.prefix + KEY_SEPARATOR + key;
  }

  features(): StateFeature[] {
    return this.inner.features();
  }

  async get(key: string): Promise<GetResponse | undefined> {
    return this.inner.get(this.full(key));
  }

  async bulkGet(keys: string[]): Promise<BulkGetItem[]> {
    const full = keys.map((k) => this.full(k));
    const items = await this.inner.bulkGet(full);
    return items.map((it, i) => ({ ...it, key: keys[i] }));
  }

  async set(req: SetRequest): Promise<void> {
    return this.inner.set({ ...req, key: this.full(req.key) });
  }

  async delete(req: DeleteRequest): Promise<void> {
    return this.inner.delete({ ...req, key: this.full(req.key) });
  }

  async transaction(ops: TransactionOperation[]): Promise<void> {
    return this.inner.transaction(
      ops.map((op) => (op.operation === 'upsert' ? { operation: 'upsert', request: { ...op.request, key: this.full(op.request.key) } } : { operation: 'delete', request: { ...op.request, key: this.full(op.request.key) } })),
    );
  }

  close(): Promise<void> {
    return this.inner.close();
  }
}
