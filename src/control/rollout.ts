// Rolling replacement as a pure decision (Kubernetes Deployment semantics): given the desired
// replica count, the surge/unavailability budget and the instances that exist, what to create and
// what to terminate now. Called again whenever anything changes, until nothing is left to do.

export interface RolloutInstance {
  id: string;
  ready: boolean;
  createdAt: string;
}

export interface RolloutInput {
  replicas: number;
  maxSurge: number | string;
  maxUnavailable: number | string;
  /** Active instances of the desired revision. */
  current: RolloutInstance[];
  /** Active instances of any older revision. */
  old: RolloutInstance[];
}

export interface RolloutDecision {
  create: number;
  terminate: string[];
}

/** Resolves an int-or-percent budget against the replica count (surge rounds up, unavailability down, as in Kubernetes). */
export function resolveBudget(value: number | string, replicas: number, round: 'up' | 'down'): number {
  if (typeof value === 'number') return value;
  const pct = Number(value.replace('%', ''));
  const raw = (pct / 100) * replicas;
  return round === 'up' ? Math.ceil(raw) : Math.floor(raw);
}

/** Preference for removal: not ready first, then newest first (oldest survive, like Kubernetes' ReplicaSet scale-down). */
function removalOrder(list: RolloutInstance[]): RolloutInstance[] {
  return [...list].sort((a, b) => Number(a.ready) - Number(b.ready) || (a.createdAt < b.createdAt ? 1 : a.createdAt > b.createdAt ? -1 : 0));
}

export function decideRollout(input: RolloutInput): RolloutDecision {
  const R = input.replicas;
  let surge = resolveBudget(input.maxSurge, R, 'up');
  const unavailable = resolveBudget(input.maxUnavailable, R, 'down');
  if (surge === 0 && unavailable === 0) surge = 1;
  const terminate: string[] = [];

  if (input.current.length > R) {
    terminate.push(...removalOrder(input.current).slice(0, input.current.length - R).map((i) => i.id));
  }
  const keptCurrent = input.current.filter((i) => !terminate.includes(i.id));

  // Old instances that are not ready contribute nothing: remove them at once.
  const oldReady = input.old.filter((i) => i.ready);
  terminate.push(...input.old.filter((i) => !i.ready).map((i) => i.id));

  // Ready old instances go only while availability stays at or above replicas - maxUnavailable.
  const minAvailable = Math.max(0, R - unavailable);
  let available = keptCurrent.filter((i) => i.ready).length + oldReady.length;
  const oldestFirst = [...oldReady].sort((a, b) => (a.createdAt < b.createdAt ? -1 : a.createdAt > b.createdAt ? 1 : 0));
  let oldLeft = oldReady.length;
  for (const inst of oldestFirst) {
    if (available - 1 < minAvailable) break; // never dip below the availability floor
    terminate.push(inst.id);
    available--;
    oldLeft--;
  }

  const total = keptCurrent.length + oldLeft;
  const create = Math.max(0, Math.min(R - keptCurrent.length, R + surge - total));
  return { create, terminate };
}
