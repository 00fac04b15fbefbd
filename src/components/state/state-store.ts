// The one interface every state store implements, with Dapr's semantics: ETags for optimistic
// concurrency, first-write / last-write, per-item TTL, atomic transactions and (optionally) the
// query API. Keys reaching a store are already prefixed (`<appId>||<key>`, see key-prefix.ts).

/** Dapr's feature names, as `GET /v1.0/metadata` lists them under a component's capabilities. */
export type StateFeature = 'ETAG' | 'TRANSACTIONAL' | 'TTL' | 'QUERY_API';

export type Concurrency = 'first-write' | 'last-write';
export type Consistency = 'eventual' | 'strong';

export interface StateOptions {
  /** last-write (Dapr's default): a write without an ETag always wins; first-write: a write without an ETag succeeds only when the key is absent. */
  concurrency?: Concurrency;
  /** Accepted for compatibility; every Berth store is strongly consistent. */
  consistency?: Consistency;
}

export interface SetRequest {
  key: string;
  /** The stored bytes (the JSON text of the value, for the HTTP API). */
  value: Buffer;
  /** When given, the write succeeds only if the stored item has this ETag (whatever the concurrency mode). */
  etag?: string;
  options?: StateOptions;
  /** Seconds until the item expires; -1: never (as Dapr's `metadata.ttlInSeconds`). Absent: no expiry. */
  ttlInSeconds?: number;
}

export interface DeleteRequest {
  key: string;
  etag?: string;
  options?: StateOptions;
}

export interface GetResponse {
  value: Buffer;
  etag: string;
  /** When the item expires (Dapr answers it as `metadata.ttlExpireTime`). */
  expireTime?: Date;
}

export interface BulkGetItem {
  key: string;
  /** Absent when the key does not exist. */
  item?: GetResponse;
}

export type TransactionOperation = { operation: 'upsert'; request: SetRequest } | { operation: 'delete'; request: DeleteRequest };

// --- query (Dapr's state query API, /v1.0-alpha1/state/{store}/query) -----------------------

export type QueryValue = string | number | boolean | null;
export type QueryFilter =
  | { EQ: Record<string, QueryValue> }
  | { IN: Record<string, QueryValue[]> }
  | { AND: QueryFilter[] }
  | { OR: QueryFilter[] };

export interface QueryRequest {
  filter?: QueryFilter;
  sort?: { key: string; order?: 'ASC' | 'DESC' }[];
  page?: { limit?: number; token?: string };
  /** Only keys starting with this (the app's prefix; the key-prefix layer sets it). */
  keyPrefix?: string;
}

export interface QueryResponse {
  results: { key: string; data: Buffer; etag: string }[];
  /** Give it back as page.token for the next page; absent on the last page. */
  token?: string;
}

export interface StateStore {
  features(): StateFeature[];
  get(key: string): Promise<GetResponse | undefined>;
  bulkGet(keys: string[]): Promise<BulkGetItem[]>;
  set(req: SetRequest): Promise<void>;
  delete(req: DeleteRequest): Promise<void>;
  /** All operations or none; an ETag mismatch in any rolls back the others. */
  transaction(ops: TransactionOperation[]): Promise<void>;
  /** Present exactly when features() lists QUERY_API. */
  query?(req: QueryRequest): Promise<QueryResponse>;
  close(): Promise<void>;
}

/** The ETag given does not match the stored item (or the item is absent): Dapr answers 409. */
export class ETagMismatchError extends Error {
  readonly code = 'ETAG_MISMATCH';
  constructor(key: string) {
    super(`possible etag mismatch. error from state store: the ETag of key ${JSON.stringify(key)} does not match`);
  }
}

/** The ETag is not in the form this store issues: Dapr answers 400. */
export class ETagInvalidError extends Error {
  readonly code = 'ETAG_INVALID';
  constructor(etag: string) {
    super(`invalid etag value: ${JSON.stringify(etag)}`);
  }
}

/** A request the store cannot take (bad TTL, bad query): Dapr answers 400. */
export class StateRequestError extends Error {
  readonly code = 'BAD_REQUEST';
}

/** A component's metadata is wrong: the one class all kinds share (components/metadata.ts). */
export { ComponentConfigError } from '../metadata.js';
