// The Components view's data (GET /api/v1/dashboard/components): the app's building-block components
// as `berth components ls` lists them (declared ones and the embedded defaults, with the services
// using them), where each one's data lives (never a password or a secret's value), its state in
// the sidecars that serve it (read from their admin GET /mesh/components), and the subscriptions:
// declared ones from the spec and the programmatic ones the apps answered at GET /dapr/subscribe.
import { requestJson } from '../../lib/http.js';
import type { ComponentDecl } from '../../lib/dapr-config.js';
import type { DesiredState } from '../../plan/index.js';
import type { StatsTarget } from './metric-history.js';

export type ComponentState = 'ready' | 'opening' | 'failed' | 'unused';

export interface ComponentRow {
  name: string;
  type: string;
  version: string;
  /** Where its data lives: `redis 127.0.0.1:6379`, `sqlite .berth/state.db`, `in the sidecar`… */
  backend: string;
  /** App IDs allowed to use it; empty: every app. */
  scopes: string[];
  services: string[];
  /** An embedded default Berth adds (not declared in the spec). */
  default: boolean;
  /** Summed over the sidecars that serve it: ready / failed with why / not opened yet / unknown (no sidecar answered). */
  status: 'ready' | 'failed' | 'opening' | 'unused' | 'unknown';
  instances: Record<ComponentState, number>;
  error?: string;
}

export interface SubscriptionRow {
  pubsubname: string;
  topic: string;
  routes: string[];
  deadLetterTopic?: string;
  /** `declarative` (a Subscription resource) or `programmatic` (the app's /dapr/subscribe). */
  type: string;
  services: string[];
}

interface ProxyComponents {
  appId: string;
  components: { name: string; type: string; state: ComponentState; error?: string }[];
  subscriptions: { pubsubname: string; topic: string; type: string; routes: string[]; deadLetterTopic?: string }[];
}

/** An address without credentials: `user:pass@host:port/db` → `host:port/db`. */
function address(v: string): string {
  try {
    const u = new URL(v);
    if (u.host) return `${u.host}${u.pathname === '/' ? '' : u.pathname}`;
  } catch {
    // not a URL: a key=value connection string or a bare host
  }
  const kv = Object.fromEntries([...v.matchAll(/(\w+)=([^\s;]+)/g)].map((m) => [m[1].toLowerCase(), m[2]]));
  if (kv.host || kv.server || kv['data source']) return [kv.host ?? kv.server, kv.port].filter(Boolean).join(':') + (kv.dbname ? `/${kv.dbname}` : '');
  return v.replace(/^[^@/]*@/, '');
}

const ADDRESS_KEYS = ['redisHost', 'host', 'natsURL', 'url', 'brokers', 'connectionString', 'databaseName', 'secretsFile', 'schedule'];

/** Where a component's data lives, from its type and its plain (non-secret) metadata. */
export function componentBackend(c: Pick<ComponentDecl, 'type' | 'metadata' | 'secretKeyRefs'>): string {
  const impl = c.type.split('.').slice(1).join('.');
  if (impl === 'in-memory') return 'in the sidecar (in memory)';
  for (const k of ADDRESS_KEYS) {
    if (k in (c.secretKeyRefs ?? {})) return `${impl} (address from a secret)`;
    const v = c.metadata?.[k];
    if (v) return `${impl} ${k === 'schedule' ? v : address(v)}`;
  }
  return impl;
}

/** Every component some service uses or the spec declares, with who uses it (as `berth components ls`). */
function declared(desired: DesiredState | undefined): Map<string, { c: ComponentDecl; services: Set<string>; declared: boolean }> {
  const byName = new Map<string, { c: ComponentDecl; services: Set<string>; declared: boolean }>();
  for (const c of desired?.components ?? []) byName.set(c.name, { c, services: new Set(), declared: true });
  for (const s of desired?.services ?? []) {
    const svc = s.name.split('.')[0];
    for (const c of s.dapr?.components ?? []) {
      let e = byName.get(c.name);
      if (!e) byName.set(c.name, (e = { c, services: new Set(), declared: false }));
      e.services.add(svc);
    }
  }
  return byName;
}

export async function componentsView(desired: DesiredState | undefined, targets: StatsTarget[]): Promise<{ components: ComponentRow[]; subscriptions: SubscriptionRow[] }> {
  const byName = declared(desired);
  const daprServices = new Set((desired?.services ?? []).filter((s) => s.dapr).map((s) => s.name.split('.')[0]));
  const reads = await Promise.all(
    targets
      .filter((t) => daprServices.has(t.service))
      .map(async (t) => ({ t, d: await requestJson<ProxyComponents | null>({ host: t.host, port: t.adminPort, timeoutMs: 1500 }, 'GET', '/mesh/components').catch(() => null) })),
  );
  const states = new Map<string, { counts: Record<ComponentState, number>; error?: string }>();
  const subs = new Map<string, SubscriptionRow>();
  for (const { t, d } of reads) {
    if (!d || !Array.isArray(d.components)) continue;
    for (const c of d.components) {
      let s = states.get(c.name);
      if (!s) states.set(c.name, (s = { counts: { ready: 0, opening: 0, failed: 0, unused: 0 } }));
      s.counts[c.state]++;
      if (c.error) s.error = c.error;
    }
    for (const x of d.subscriptions ?? []) {
      // The proxies say DECLARATIVE / PROGRAMMATIC (Dapr's metadata API): one spelling, so a declared one is not listed twice.
      const type = x.type.toLowerCase();
      const k = `${x.pubsubname}\u0000${x.topic}\u0000${type}`;
      const row = subs.get(k) ?? { pubsubname: x.pubsubname, topic: x.topic, routes: x.routes, type, services: [], ...(x.deadLetterTopic ? { deadLetterTopic: x.deadLetterTopic } : {}) };
      if (!row.services.includes(t.service)) row.services.push(t.service);
      subs.set(k, row);
    }
  }
  // Declared subscriptions no running sidecar serves yet (stopped services, workers without an admin port) still show.
  for (const s of desired?.subscriptions ?? []) {
    if ([...subs.values()].some((r) => r.pubsubname === s.pubsubname && r.topic === s.topic && r.type === 'declarative')) continue;
    subs.set(`${s.pubsubname}\u0000${s.topic}\u0000declarative`, {
      pubsubname: s.pubsubname,
      topic: s.topic,
      routes: [...s.routes.rules.map((r) => r.path), ...(s.routes.default ? [s.routes.default] : [])],
      type: 'declarative',
      services: s.scopes,
      ...(s.deadLetterTopic ? { deadLetterTopic: s.deadLetterTopic } : {}),
    });
  }
  const components = [...byName.values()].map(({ c, services, declared: isDeclared }): ComponentRow => {
    const s = states.get(c.name);
    const n = s?.counts ?? { ready: 0, opening: 0, failed: 0, unused: 0 };
    const status = !s ? 'unknown' : n.failed ? 'failed' : n.opening ? 'opening' : n.ready ? 'ready' : 'unused';
    return { name: c.name, type: c.type, version: c.version, backend: componentBackend(c), scopes: c.scopes, services: [...services].sort(), default: !isDeclared, status, instances: n, ...(s?.error && n.failed ? { error: s.error } : {}) };
  });
  components.sort((a, b) => a.name.localeCompare(b.name));
  return { components, subscriptions: [...subs.values()].sort((a, b) => a.pubsubname.localeCompare(b.pubsubname) || a.topic.localeCompare(b.topic)) };
}
