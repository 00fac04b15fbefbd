// From a normalized component (spec.type, spec.metadata) to a ready StateStore, keys prefixed
// as the component's `keyPrefix` says (default: `<appId>||`).
// Each backend's module (and its client library) is imported when a store of that type is opened:
// a proxy serving only the embedded SQLite store never loads pg or ioredis.
import type { ComponentSpec } from '../component.js';
import { keyPrefixFor, PrefixedStateStore } from './key-prefix.js';
import { ComponentConfigError, type StateStore } from './state-store.js';

export const STATE_STORE_TYPES = ['state.in-memory', 'state.sqlite', 'state.redis', 'state.postgresql'] as const;
export type StateStoreType = (typeof STATE_STORE_TYPES)[number];

export interface StateStoreContext {
  /** The app ID of the service using the store (the default key prefix). */
  appId: string;
  /** Relative file paths in metadata (state.sqlite's connectionString) resolve against this: the spec's directory. */
  baseDir: string;
}

/** The store without the key prefix (keys used as given). Connects before returning, so bad metadata or an unreachable server fails here. */
export async function openStateBackend(component: Pick<ComponentSpec, 'type' | 'version' | 'metadata' | 'name'>, ctx: Pick<StateStoreContext, 'baseDir'>): Promise<StateStore> {
  if (component.version !== 'v1') throw new ComponentConfigError(`${component.type} version ${component.version} is not supported: use v1`);
  const md = component.metadata;
  switch (component.type) {
    case 'state.in-memory': {
      const { InMemoryStateStore } = await import('./in-memory.js');
      return new InMemoryStateStore();
    }
    case 'state.sqlite': {
      const { SqliteStateStore } = await import('./sqlite.js');
      return new SqliteStateStore(md, ctx.baseDir);
    }
    case 'state.redis': {
      const { RedisStateStore } = await import('./redis.js');
      const s = new RedisStateStore(md, component.name);
      try {
        await s.init();
      } catch (e) {
        await s.close();
        throw new ComponentConfigError(`state store ${component.name}: cannot reach Redis at ${md.redisHost}: ${e instanceof Error ? e.message : String(e)}`);
      }
      return s;
    }
    case 'state.postgresql': {
      const { PostgresStateStore } = await import('./postgresql.js');
      const s = new PostgresStateStore(md);
      try {
        await s.init();
      } catch (e) {
        await s.close();
        throw new ComponentConfigError(`state store ${component.name}: cannot use PostgreSQL: ${e instanceof Error ? e.message : String(e)}`);
      }
      return s;
    }
    default:
      throw new ComponentConfigError(`${component.type} is not a state store type Berth serves (${STATE_STORE_TYPES.join(', ')})`);
  }
}

/** The store as an app sees it through the API: its keys prefixed per `keyPrefix`. */
export async function openStateStore(component: ComponentSpec, ctx: StateStoreContext): Promise<StateStore> {
  const prefix = keyPrefixFor(component.metadata.keyPrefix, ctx.appId, component.name);
  return new PrefixedStateStore(await openStateBackend(component, ctx), prefix);
}
