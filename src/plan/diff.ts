// What applying a desired state would change, field by field (for `berth diff`, like kubectl diff):
// services added, removed or changed, and for a changed one each field old → new under the spec's
// own names (replicas, env.X, probes.readiness…, routes). Secret values never appear: a variable a
// secret feeds is shown as changed, not with its value. Pure.
import { isDeepStrictEqual } from 'node:util';
import type { MeshConfig } from '../lib/mesh-protocol.js';
import type { DesiredService, DesiredState } from './desired-state.js';

/** One field that differs; `from`/`to` absent when the field is absent on that side. */
export interface FieldChange {
  path: string;
  from?: unknown;
  to?: unknown;
}

export interface ServiceDiff {
  service: string;
  change: 'added' | 'removed' | 'changed';
  revision: { from?: string; to?: string };
  /** For `changed`: every field that differs. For added/removed: replicas and port, for the summary. */
  fields: FieldChange[];
}

export interface StateDiff {
  /** True when applying would change anything. */
  changed: boolean;
  /** Services that would change (unchanged ones are left out), in the new state's start order, removed ones last. */
  services: ServiceDiff[];
  /** App-level changes: ingress, mesh settings, nodes. */
  settings: FieldChange[];
}

export interface DiffOptions {
  /** Per service, the variables a secret feeds (their values are masked). */
  secretEnv?: Record<string, readonly string[]>;
  /**
   * Whether a revision that differs with no field that differs counts as a change (true when both
   * states were compiled with the same restart generations, as against a running control plane).
   */
  compareRevisions?: boolean;
}

export const SECRET_MASK = '(secret)';

function withoutRevision(env: Record<string, string>): Record<string, string> {
  const { BERTH_REVISION: _revision, ...rest } = env;
  return rest;
}

/** Hides secret values in a change (the values are compared, never shown). */
function mask(c: FieldChange, secrets: ReadonlySet<string>): FieldChange {
  const m = /^(?:sidecars\.[^.]+\.)?env\.(.+)$/.exec(c.path);
  const secret = (m !== null && secrets.has(m[1])) || /^secretFiles\.\d+\.content$/.test(c.path) || (c.path === 'secretFiles' && (c.from !== undefined || c.to !== undefined));
  if (!secret) return c;
  const out: FieldChange = { path: c.path };
  if (c.from !== undefined) out.from = c.path === 'secretFiles' ? (c.from as { name: string }[]).map((f) => f.name) : SECRET_MASK;
  if (c.to !== undefined) out.to = c.path === 'secretFiles' ? (c.to as { name: string }[]).map((f) => f.name) : SECRET_MASK;
  return out;
}

/** A deployment as the spec names its fields (what a person compares), from its compiled form. */
export function serviceView(s: DesiredService, mesh: MeshConfig | undefined): Record<string, unknown> {
  const t = s.template;
  const env = withoutRevision(t.main.env);
  const meshView = mesh?.services?.[s.name.split('.')[0]];
  const view: Record<string, unknown> = {
    replicas: s.replicas,
    run: t.main.argv,
    cwd: t.main.cwd,
    user: t.main.user,
    env,
    secretFiles: t.main.secretFiles,
    port: s.port,
    uses: s.uses,
    dependsOn: s.dependsOn,
    sidecars: Object.fromEntries(
      t.sidecars.map((c) => {
        // A sidecar inherits the app's environment: only what differs from it is its own.
        const own = Object.fromEntries(Object.entries(withoutRevision(c.env)).filter(([k, v]) => env[k] !== v));
        const { env: _env, name: _name, ...rest } = c;
        return [c.name, { ...rest, env: own }];
      }),
    ),
    probes: t.probes,
    restart: t.restart,
    resources: { memoryMiB: t.memoryMiB, cpuMillis: t.cpuMillis },
    stopGracePeriodSeconds: t.stopGracePeriodSeconds,
    source: t.sourceDigest,
    rollout: s.rollout,
    placement: s.placement,
    priority: s.priority,
    scale: s.scale,
    routes: meshView?.routes,
    policy: meshView?.policy,
    protocol: meshView?.protocol,
  };
  return view;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Leaf-level differences between two JSON-like values, under `path`. Lists of equal length compare item by item. */
export function diffValues(from: unknown, to: unknown, path: string, out: FieldChange[] = []): FieldChange[] {
  if (isDeepStrictEqual(from, to)) return out;
  const join = (k: string | number) => (path === '' ? String(k) : `${path}.${k}`);
  if (isObject(from) && isObject(to)) {
    const keys = [...new Set([...Object.keys(from), ...Object.keys(to)])].sort();
    for (const k of keys) diffValues(from[k], to[k], join(k), out);
    return out;
  }
  if (Array.isArray(from) && Array.isArray(to) && from.length === to.length && from.some((x) => typeof x === 'object' && x !== null)) {
    for (let i = 0; i < from.length; i++) diffValues(from[i], to[i], join(i), out);
    return out;
  }
  if (from === undefined && to === undefined) return out;
  const c: FieldChange = { path };
  if (from !== undefined) c.from = from;
  if (to !== undefined) c.to = to;
  out.push(c);
  return out;
}

function settingsView(d: DesiredState | undefined): Record<string, unknown> {
  const { services: _services, ...mesh } = d?.mesh ?? {};
  return { app: d?.app, ...mesh, nodes: d?.nodes };
}

/** What applying `next` over `prev` would change (`prev` undefined: nothing was applied yet). */
export function diffStates(prev: DesiredState | undefined, next: DesiredState, opts: DiffOptions = {}): StateDiff {
  const services: ServiceDiff[] = [];
  const before = new Map((prev?.services ?? []).map((s) => [s.name, s]));
  const secretsOf = (name: string) => opts.secretEnv?.[name.split('.')[0]] ?? [];
  for (const s of next.services) {
    const old = before.get(s.name);
    before.delete(s.name);
    if (!old) {
      services.push({ service: s.name, change: 'added', revision: { to: s.revision }, fields: summary(s, 'to') });
      continue;
    }
    const secrets = new Set(secretsOf(s.name));
    const fields = diffValues(serviceView(old, prev?.mesh), serviceView(s, next.mesh), '').map((c) => mask(c, secrets));
    const revisionMoved = old.revision !== s.revision;
    if (fields.length > 0 || (revisionMoved && opts.compareRevisions)) services.push({ service: s.name, change: 'changed', revision: { from: old.revision, to: s.revision }, fields });
  }
  for (const old of before.values()) services.push({ service: old.name, change: 'removed', revision: { from: old.revision }, fields: summary(old, 'from') });
  const settings = diffValues(settingsView(prev), settingsView(next), '');
  if (prev === undefined) settings.length = 0; // a first apply: the services say it all
  return { changed: services.length > 0 || settings.length > 0, services, settings };
}

function summary(s: DesiredService, side: 'from' | 'to'): FieldChange[] {
  const out: FieldChange[] = [{ path: 'replicas', [side]: s.replicas }];
  if (s.port !== undefined) out.push({ path: 'port', [side]: s.port });
  return out;
}
