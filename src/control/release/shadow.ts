// Shadow traffic of a release (issue 15 point 4): while a setMirrorRoute step (or the service's own
// `mirror` route) copies requests, every proxy that routes to the service compares the copy's answer
// with the primary's and counts it (GET /mesh/shadow on its admin port). The release controller
// reads those counters from the gateway and every registered sidecar about once a second and keeps
// their sum for the release here (meta `release-shadow:<service>`), which `berth release status`
// shows. A release's own mirror routes carry its canary revision as their key, so their counters
// are its own; a spec `mirror` route has no key, so the first reading of each proxy is its baseline.
import { requestJson } from '../../lib/http.js';
import { meshPorts, type MeshShadowCount, type MeshShadowField } from '../../lib/mesh-protocol.js';
import type { CanaryStepSpec } from '../../contract/index.js';
import { gatewayNode } from '../controllers/node.js';
import { meshServedServices } from '../mesh-snapshots.js';
import type { World } from '../world.js';
import { MIRROR_ROUTE_PREFIX, type ReleaseState } from './state.js';

/** One mesh route's shadow diffs in a release (`berth release status --json` → shadow.routes[]). */
export interface ShadowRouteStatus {
  /** The mesh route (`release-mirror-<name>-<i>` for a setMirrorRoute, else the spec route's name). */
  route: string;
  /** The setMirrorRoute step's name, and its index in the steps (null: a spec `mirror` route). */
  mirrorRoute: string | null;
  step: number | null;
  /** Mirrored answers compared with the primary's: same + differing. */
  compared: number;
  same: number;
  differing: number;
  /** Copies not compared: one side failed. */
  errors: number;
  /** The fields that differed most often, with the last example (`status`, `header:<name>`, a JSON path, `line <n>`). */
  topFields: MeshShadowField[];
}

/** `berth release status --json` → shadow (null: the release mirrors nothing). */
export interface ShadowStatus {
  compared: number;
  same: number;
  differing: number;
  errors: number;
  /** differing / compared in percent (null before the first comparison). */
  differingPercent: number | null;
  routes: ShadowRouteStatus[];
  /** Proxies whose counters are in the sum, and when the sum last changed. */
  proxies: number;
  updatedAt: string | null;
  /** The release ended (promoted or aborted) and the counters were read one last time. */
  final: boolean;
}

/** One proxy's reading: its counters for the service (undefined: it could not be read). */
export interface ShadowReading {
  proxy: string;
  counts: MeshShadowCount[] | undefined;
}

/** Where the controller reads shadow counters: every proxy that may route to the service. */
export interface ShadowSource {
  read(service: string, signal: AbortSignal): Promise<ShadowReading[]>;
}

/** What is kept per release: each proxy's baseline and last reading, and what restarted proxies had counted. */
export interface StoredShadow {
  service: string;
  canaryRevision: string;
  proxies: Record<string, { base: MeshShadowCount[]; last: MeshShadowCount[] }>;
  carried: MeshShadowCount[];
  updatedAt?: number;
  final?: boolean;
}

/** How often the counters are read while a mirror route is in force. */
export const SHADOW_READ_INTERVAL_MS = 1000;
const TOP_FIELDS = 10;

const KEY = (service: string): string => `release-shadow:${service}`;

export function loadShadow(world: World, service: string): StoredShadow | undefined {
  const text = world.getMeta(KEY(service));
  if (!text) return undefined;
  try {
    return JSON.parse(text) as StoredShadow;
  } catch {
    return undefined; // written by this module only; a damaged value starts the sum afresh
  }
}

export function saveShadow(world: World, s: StoredShadow): void {
  world.setMeta(KEY(s.service), JSON.stringify(s));
}

/** The service's own spec routes that mirror (their shadow diffs are the release's too). */
export function specMirrors(world: World, service: string): boolean {
  return world.desired?.mesh?.services?.[service]?.routes?.some((r) => r.mirror !== undefined) ?? false;
}

/** A release's mirroring now: its setMirrorRoute steps in force, or the service's own mirror routes. */
export function mirroring(world: World, s: ReleaseState): boolean {
  if (s.phase !== 'Progressing' && s.phase !== 'Paused') return false;
  return (s.mirrorRoutes?.length ?? 0) > 0 || specMirrors(world, s.service);
}

const counterKey = (c: MeshShadowCount): string => `${c.route}\u0000${c.key ?? ''}`;

/** The counters of this release: its own key, or no key (spec mirror routes, which are not `release-mirror-`). */
function ours(counts: MeshShadowCount[], service: string, revision: string): MeshShadowCount[] {
  return counts.filter((c) => c.service === service && (c.key === revision || (c.key === undefined && !c.route.startsWith(MIRROR_ROUTE_PREFIX))));
}

const total = (c: MeshShadowCount): number => c.same + c.diff + c.error;

function add(into: Map<string, MeshShadowCount>, c: MeshShadowCount, sign: 1 | -1 = 1): void {
  const k = counterKey(c);
  let t = into.get(k);
  if (!t) into.set(k, (t = { service: c.service, route: c.route, ...(c.key !== undefined ? { key: c.key } : {}), same: 0, diff: 0, error: 0, fields: [] }));
  t.same += sign * c.same;
  t.diff += sign * c.diff;
  t.error += sign * c.error;
  for (const f of c.fields) {
    const known = t.fields.find((x) => x.path === f.path);
    if (known) {
      known.count += sign * f.count;
      if (sign === 1) Object.assign(known, { expected: f.expected, actual: f.actual });
    } else if (sign === 1) t.fields.push({ ...f });
  }
}

/** What one proxy counted for the release since its baseline. */
function sinceBase(p: { base: MeshShadowCount[]; last: MeshShadowCount[] }): MeshShadowCount[] {
  const m = new Map<string, MeshShadowCount>();
  for (const c of p.last) add(m, c);
  for (const c of p.base) if (m.has(counterKey(c))) add(m, c, -1);
  return [...m.values()];
}

/**
 * The stored sum after a round of readings. A proxy read for the first time in this release takes
 * its keyless counters as the baseline (a spec mirror route counted before the release began); one
 * whose counter went down restarted, and what it had counted is carried over.
 */
export function mergeReadings(prev: StoredShadow, readings: ShadowReading[], now: number): StoredShadow {
  const next: StoredShadow = { ...prev, proxies: { ...prev.proxies }, carried: prev.carried.map((c) => ({ ...c, fields: c.fields.map((f) => ({ ...f })) })) };
  let changed = false;
  for (const r of readings) {
    if (!r.counts) continue; // unreadable now: its last reading stays in the sum
    const counts = ours(r.counts, prev.service, prev.canaryRevision);
    const known = next.proxies[r.proxy];
    if (!known) {
      next.proxies[r.proxy] = { base: counts.filter((c) => c.key === undefined), last: counts };
      changed ||= counts.some((c) => c.key !== undefined && total(c) > 0);
      continue;
    }
    const restarted = known.last.some((old) => {
      const now = counts.find((c) => counterKey(c) === counterKey(old));
      return (now ? total(now) : 0) < total(old);
    });
    let base = known.base;
    if (restarted) {
      const carried = new Map(next.carried.map((c) => [counterKey(c), c]));
      for (const c of sinceBase(known)) add(carried, c);
      next.carried = [...carried.values()];
      base = [];
    }
    const same = !restarted && JSON.stringify(known.last) === JSON.stringify(counts);
    if (!same) {
      next.proxies[r.proxy] = { base, last: counts };
      changed = true;
    }
  }
  if (changed) next.updatedAt = now;
  return next;
}

/** The sum for `berth release status`, per route, with the setMirrorRoute step each route comes from. */
export function shadowStatus(s: StoredShadow, steps: readonly CanaryStepSpec[]): ShadowStatus {
  const m = new Map<string, MeshShadowCount>();
  for (const c of s.carried) add(m, c);
  for (const p of Object.values(s.proxies)) for (const c of sinceBase(p)) add(m, c);
  const byRoute = new Map<string, MeshShadowCount>();
  for (const c of m.values()) add(byRoute, { ...c, key: undefined });
  const routes = [...byRoute.values()]
    .map((c): ShadowRouteStatus => {
      const step = mirrorStep(c.route, steps);
      return {
        route: c.route,
        mirrorRoute: step?.name ?? null,
        step: step?.index ?? null,
        compared: c.same + c.diff,
        same: c.same,
        differing: c.diff,
        errors: c.error,
        topFields: c.fields.filter((f) => f.count > 0).sort((a, b) => b.count - a.count || (a.path < b.path ? -1 : 1)).slice(0, TOP_FIELDS),
      };
    })
    .sort((a, b) => (a.route < b.route ? -1 : 1));
  const sum = (k: 'compared' | 'same' | 'differing' | 'errors') => routes.reduce((n, r) => n + r[k], 0);
  const compared = sum('compared');
  return {
    compared,
    same: sum('same'),
    differing: sum('differing'),
    errors: sum('errors'),
    differingPercent: compared > 0 ? Math.round((sum('differing') / compared) * 10000) / 100 : null,
    routes,
    proxies: Object.keys(s.proxies).length,
    updatedAt: s.updatedAt !== undefined ? new Date(s.updatedAt).toISOString() : null,
    final: s.final === true,
  };
}

/** `release-mirror-<name>-<i>` → the setMirrorRoute step of that name (the first that sets it). */
function mirrorStep(route: string, steps: readonly CanaryStepSpec[]): { name: string; index: number | null } | undefined {
  if (!route.startsWith(MIRROR_ROUTE_PREFIX)) return undefined;
  const name = route.slice(MIRROR_ROUTE_PREFIX.length).replace(/-\d+$/, '');
  const index = steps.findIndex((st) => st.setMirrorRoute?.name === name && st.setMirrorRoute.match !== undefined);
  return { name, index: index < 0 ? null : index };
}

/**
 * The control plane's source: the gateway and the sidecar of every ready instance of a meshed
 * service (any of them may call the service through its outbound listener), read on the admin port.
 */
export function worldShadowSource(world: World, timeoutMs = 1000): ShadowSource {
  return {
    async read(_service, signal) {
      const desired = world.desired;
      const served = meshServedServices(desired);
      const targets: { proxy: string; host: string; port: number }[] = [];
      for (const d of desired?.services ?? []) {
        if (!served.has(d.name) || d.port === undefined) continue;
        for (const r of world.readyOf(d.name)) targets.push({ proxy: r.id, host: r.host, port: meshPorts(d.port).admin });
      }
      const gw = gatewayNode(world);
      const node = gw !== undefined ? world.node(gw) : undefined;
      if (node) targets.push({ proxy: 'berth-gateway', host: `127.${node.idx}.${world.slot}.1`, port: meshPorts(0).admin });
      if (signal.aborted) throw new Error('shadow read stopped');
      return Promise.all(
        targets.map(async (t) => ({
          proxy: t.proxy,
          counts: await requestJson<{ counts?: MeshShadowCount[] }>({ host: t.host, port: t.port, timeoutMs }, 'GET', '/mesh/shadow')
            .then((b) => (Array.isArray(b?.counts) ? b.counts.map((c) => ({ ...c, fields: Array.isArray(c.fields) ? c.fields : [] })) : undefined))
            .catch(() => undefined),
        })),
      );
    },
  };
}
