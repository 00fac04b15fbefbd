// Drift and health of a GitOps source, as Argo CD reports them: what runs compared with what git says
// (a `berth scale`, `apply` or `restart` made outside git), and the worst health of git's services.
import { diffStates, type DesiredState } from '../../plan/index.js';
import { effectiveReplicas, isStopped } from '../controllers/replicas.js';
import type { World } from '../world.js';
import type { HealthStatus } from './records.js';

export interface DriftItem {
  service: string;
  /** `service`: present in one and not the other; `revision`: another instance template; `replicas`: another count. */
  field: 'service' | 'revision' | 'replicas';
  git: string | number;
  live: string | number;
  /** For `revision`: each field that differs (git → live), as `berth diff` lists them; env values are not shown. */
  fields?: { path: string; git?: unknown; live?: unknown }[];
}

/** Field by field, what running differs in from git (env values hidden: they may hold secrets). */
function fieldDiff(git: DesiredState, live: DesiredState, service: string): NonNullable<DriftItem['fields']> {
  const only = (d: DesiredState): DesiredState => ({ ...d, services: d.services.filter((s) => s.name === service) });
  const d = diffStates(only(git), only(live));
  const hide = (path: string, v: unknown) => (path.startsWith('env.') && v !== undefined ? '(hidden)' : v);
  return (d.services[0]?.fields ?? []).map((f) => ({ path: f.path, git: hide(f.path, f.from), live: hide(f.path, f.to) }));
}

/** Differences between git's desired state (as last applied) and the control plane's. */
export function detectDrift(git: DesiredState, world: World): DriftItem[] {
  const out: DriftItem[] = [];
  const live = world.desired;
  const gitNames = new Set(git.services.map((s) => s.name));
  for (const s of git.services) {
    const cur = world.spec(s.name);
    if (!cur) {
      out.push({ service: s.name, field: 'service', git: 'present', live: 'missing' });
      continue;
    }
    if (cur.revision !== s.revision) out.push({ service: s.name, field: 'revision', git: s.revision, live: cur.revision, fields: live ? fieldDiff(git, live, s.name) : [] });
    // An autoscaled service's count is the autoscaler's, not drift.
    if (!s.scale) {
      const count = world.scaleOverride(s.name) ?? cur.replicas;
      if (count !== s.replicas) out.push({ service: s.name, field: 'replicas', git: s.replicas, live: count });
    }
  }
  for (const s of live?.services ?? []) if (!gitNames.has(s.name)) out.push({ service: s.name, field: 'service', git: 'absent', live: 'present' });
  return out;
}

/** Drift that a re-apply of git's state corrects (a service only git lacks is removed by prune alone). */
export function healable(drift: DriftItem[], prune: boolean): DriftItem[] {
  return drift.filter((d) => prune || !(d.field === 'service' && d.git === 'absent'));
}

const ORDER: HealthStatus[] = ['Healthy', 'Suspended', 'Progressing', 'Missing', 'Degraded'];

export function serviceHealth(world: World, name: string): HealthStatus {
  const spec = world.spec(name);
  if (!spec) return 'Missing';
  if (isStopped(world, name)) return 'Suspended';
  const want = effectiveReplicas(world, spec);
  const live = world.liveOf(name).filter((r) => r.phase === 'active');
  if (live.some((r) => world.observedOf(r)?.status === 'crashloop')) return 'Degraded';
  const ready = live.filter((r) => r.revision === spec.revision && world.isReady(r)).length;
  if (ready < want || live.length > want) return 'Progressing';
  return 'Healthy';
}

/** The worst health of git's services (Argo CD's order: Healthy < Suspended < Progressing < Missing < Degraded). */
export function appHealth(services: HealthStatus[]): HealthStatus {
  return services.reduce<HealthStatus>((worst, h) => (ORDER.indexOf(h) > ORDER.indexOf(worst) ? h : worst), 'Healthy');
}

/** One line a person reads: what differs, and what git says. */
export function describeDrift(d: DriftItem): string {
  if (d.field === 'service') return d.live === 'missing' ? `${d.service}: in git, not running` : `${d.service}: running, not in git (requires pruning)`;
  return `${d.service}: ${d.field} ${String(d.live)} (git: ${String(d.git)})`;
}

const MAX_VALUE = 60;
const show = (v: unknown): string => {
  const t = v === undefined ? '(unset)' : (JSON.stringify(v) ?? String(v));
  return t.length > MAX_VALUE ? `${t.slice(0, MAX_VALUE - 1)}…` : t;
};

/** What an apply changes, one line per service as `berth diff` shows it (`~ web: replicas 1 → 2, env.MSG`); env values hidden. */
export function describeChanges(prev: DesiredState | undefined, next: DesiredState): string[] {
  return diffStates(prev, next).services.map((s) => {
    if (s.change !== 'changed') return `${s.change === 'added' ? '+' : '-'} ${s.service}`;
    const fields = s.fields.map((f) => (f.path.startsWith('env.') ? f.path : `${f.path} ${show(f.from)} → ${show(f.to)}`));
    return `~ ${s.service}: ${fields.join(', ') || 'new revision'}`;
  });
}
