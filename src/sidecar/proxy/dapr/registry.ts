// The service's components, opened on first use and kept: one state store, pub/sub, lock store,
// secret store or binding per declared name. A component that fails to open is tried again on the
// next request (a server that was down may be back). Each backend's code is imported when the
// first component of its type opens, so the proxy carries only the client libraries it uses.
import type { ComponentDecl } from '../../../lib/dapr-config.js';
import type { ComponentSpec } from '../../../components/component.js';
import type { InputBinding, OutputBinding } from '../../../components/bindings/types.js';
import type { LockStore } from '../../../components/lock/types.js';
import { openPubSub } from '../../../components/pubsub/open.js';
import type { PubSub } from '../../../components/pubsub/types.js';
import type { SecretStore } from '../../../components/secrets/types.js';
import { openStateStore } from '../../../components/state/factory.js';
import type { StateStore } from '../../../components/state/state-store.js';
import type { DaprProxyConfig } from '../../../lib/dapr-config.js';
import { ApiError } from './errors.js';

type Kind = 'state' | 'pubsub' | 'lock' | 'secretstores' | 'bindings';

/** Capabilities by type, for /v1.0/metadata without opening a component (an unreachable server must not stall it). */
const CAPABILITIES: Record<string, string[]> = {
  'state.in-memory': ['ETAG', 'TRANSACTIONAL', 'TTL'],
  'state.sqlite': ['ETAG', 'TRANSACTIONAL', 'TTL', 'QUERY_API'],
  'state.redis': ['ETAG', 'TRANSACTIONAL', 'TTL'],
  'state.postgresql': ['ETAG', 'TRANSACTIONAL', 'TTL', 'QUERY_API'],
  'pubsub.sqlite': ['MESSAGE_TTL'],
  'pubsub.rabbitmq': ['MESSAGE_TTL'],
};

/** How a missing component of each kind is answered (Dapr's codes and statuses). */
const MISSING: Record<Kind, { none: [number, string, string]; unknown: [number, string, (n: string) => string] }> = {
  state: { none: [500, 'ERR_STATE_STORE_NOT_CONFIGURED', 'state store is not configured'], unknown: [400, 'ERR_STATE_STORE_NOT_FOUND', (n) => `state store ${n} is not found`] },
  pubsub: { none: [400, 'ERR_PUBSUB_NOT_CONFIGURED', 'no pubsub is configured'], unknown: [400, 'ERR_PUBSUB_NOT_FOUND', (n) => `pubsub ${n} not found`] },
  lock: { none: [500, 'ERR_LOCK_STORE_NOT_CONFIGURED', 'lock store is not configured'], unknown: [400, 'ERR_LOCK_STORE_NOT_FOUND', (n) => `lock store ${n} not found`] },
  secretstores: { none: [500, 'ERR_SECRET_STORES_NOT_CONFIGURED', 'secret store is not configured'], unknown: [401, 'ERR_SECRET_STORE_NOT_FOUND', (n) => `failed finding secret store with key ${n}`] },
  bindings: { none: [500, 'ERR_INVOKE_OUTPUT_BINDING', 'no output binding is configured'], unknown: [500, 'ERR_INVOKE_OUTPUT_BINDING', (n) => `error invoking output binding ${n}: binding not found`] },
};

export class ComponentRegistry {
  private readonly open = new Map<string, Promise<unknown>>();
  private readonly opened = new Map<string, { features?(): string[]; close(): Promise<void> }>();
  /** Why a component's last opening failed (cleared when it opens); for the dashboard's Components view. */
  private readonly failures = new Map<string, string>();
  /** Declarations by kind and name, looked up on every request. */
  private readonly decls = new Map<string, ComponentDecl>();

  constructor(
    readonly cfg: DaprProxyConfig,
    private readonly stateDir: string,
  ) {}

  get components(): ComponentDecl[] {
    return this.cfg.components;
  }

  /** The declaration of `name` of that kind, or the API error Dapr answers. */
  decl(kind: Kind, name: string): ComponentDecl {
    const known = this.decls.get(`${kind}/${name}`);
    if (known) return known;
    const ofKind = this.cfg.components.filter((c) => c.type.startsWith(`${kind}.`));
    const c = ofKind.find((x) => x.name === name);
    if (c) {
      this.decls.set(`${kind}/${name}`, c);
      return c;
    }
    const m = ofKind.length === 0 ? MISSING[kind].none : MISSING[kind].unknown;
    throw new ApiError(m[0], m[1], typeof m[2] === 'function' ? m[2](name) : m[2]);
  }

  /** `ready` (opened), `opening`, `failed` (with why) or `unused` (components open on first use). */
  status(c: ComponentDecl): { state: 'ready' | 'opening' | 'failed' | 'unused'; error?: string } {
    if (this.opened.has(c.name)) return { state: 'ready' };
    if (this.open.has(c.name)) return { state: 'opening' };
    const why = this.failures.get(c.name);
    return why !== undefined ? { state: 'failed', error: why } : { state: 'unused' };
  }

  capabilities(c: ComponentDecl): string[] {
    return this.opened.get(c.name)?.features?.() ?? CAPABILITIES[c.type] ?? [];
  }

  state(name: string): Promise<StateStore> {
    const c = this.decl('state', name);
    return this.get(c, async (spec) => openStateStore(spec, { appId: this.cfg.appId, baseDir: this.cfg.baseDir }));
  }

  pubsub(name: string): Promise<PubSub> {
    const c = this.decl('pubsub', name);
    return this.get(c, (spec) => openPubSub(spec, { appId: this.cfg.appId, stateDir: this.stateDir }));
  }

  lock(name: string): Promise<LockStore> {
    const c = this.decl('lock', name);
    return this.get(c, async (spec) => (await import('../../../components/lock/index.js')).createLock(spec, { appId: this.cfg.appId }));
  }

  secrets(name: string): Promise<SecretStore> {
    const c = this.decl('secretstores', name);
    return this.get(c, async (spec) => (await import('../../../components/secrets/index.js')).createSecretStore(spec, { baseDir: this.cfg.baseDir }));
  }

  output(name: string): Promise<OutputBinding> {
    const c = this.cfg.components.find((x) => x.name === name && x.type === 'bindings.http');
    if (!c) throw new ApiError(500, 'ERR_INVOKE_OUTPUT_BINDING', `error invoking output binding ${name}: output binding ${name} not found`);
    return this.get(c, async (spec) => (await import('../../../components/bindings/index.js')).createOutputBinding(spec));
  }

  input(c: ComponentDecl): Promise<InputBinding> {
    return this.get(c, async (spec) => (await import('../../../components/bindings/index.js')).createInputBinding(spec));
  }

  private get<T extends { close(): Promise<void> }>(c: ComponentDecl, make: (spec: ComponentSpec) => Promise<T>): Promise<T> {
    let p = this.open.get(c.name) as Promise<T> | undefined;
    if (!p) {
      p = this.resolveSecrets(c)
        .then(make)
        .then((x) => {
          this.opened.set(c.name, x as { close(): Promise<void> });
          this.failures.delete(c.name);
          return x;
        });
      this.open.set(c.name, p);
      p.catch((err: Error) => {
        this.open.delete(c.name);
        this.failures.set(c.name, err.message);
      });
    }
    return p;
  }

  /** Metadata values from a secret store component (`auth.secretStore`), as Dapr resolves secretKeyRef. */
  private async resolveSecrets(c: ComponentDecl): Promise<ComponentSpec> {
    const spec: ComponentSpec = { name: c.name, type: c.type, version: c.version, metadata: { ...c.metadata }, scopes: c.scopes };
    const refs = Object.entries(c.secretKeyRefs);
    if (refs.length === 0) return spec;
    if (c.secretStore === undefined) throw new Error(`component ${c.name}: secrets ${refs.map(([, r]) => r.name).join(', ')} could not be read`);
    const store = await this.secrets(c.secretStore);
    for (const [field, ref] of refs) {
      const secret = await store.get(ref.name);
      const v = secret[ref.key] ?? (Object.keys(secret).length === 1 ? Object.values(secret)[0] : undefined);
      if (v === undefined) throw new Error(`component ${c.name}: secret ${ref.name} has no key ${ref.key}`);
      spec.metadata[field] = v;
    }
    return spec;
  }

  async close(): Promise<void> {
    const all = [...this.opened.values()];
    this.opened.clear();
    this.open.clear();
    await Promise.allSettled(all.map((x) => x.close()));
  }
}
