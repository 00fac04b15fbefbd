// State stores: one interface (StateStore), Dapr's semantics, four backends.
export {
  type StateStore,
  type StateFeature,
  type SetRequest,
  type DeleteRequest,
  type GetResponse,
  type BulkGetItem,
  type TransactionOperation,
  type QueryRequest,
  type QueryResponse,
  type QueryFilter,
  type QueryValue,
  type StateOptions,
  type Concurrency,
  type Consistency,
  ETagMismatchError,
  ETagInvalidError,
  StateRequestError,
  ComponentConfigError,
} from './state-store.js';
export { openStateStore, openStateBackend, STATE_STORE_TYPES, type StateStoreType, type StateStoreContext } from './factory.js';
export { keyPrefixFor, PrefixedStateStore, KEY_SEPARATOR } from './key-prefix.js';
export { parseTtl, checkQuery } from './common.js';
export { InMemoryStateStore } from './in-memory.js';
export { SqliteStateStore } from './sqlite.js';
export { RedisStateStore } from './redis.js';
export { PostgresStateStore } from './postgresql.js';
