// What changed between two desired states, per service: for `berth apply` output and events.
// (In the control plane, which compares what it stores with what it is given.)
import { canonicalJson, type DesiredState } from '../plan/index.js';

export interface ServiceChange {
  service: string;
  /** `release`: only the release policy changed (nothing restarts; the next release follows it). */
  change: 'added' | 'removed' | 'revision' | 'replicas' | 'release' | 'unchanged';
  from?: string;
  to?: string;
}

export function diffDesired(prev: DesiredState | undefined, next: DesiredState): ServiceChange[] {
  const out: ServiceChange[] = [];
  const before = new Map((prev?.services ?? []).map((s) => [s.name, s]));
  for (const s of next.services) {
    const old = before.get(s.name);
    before.delete(s.name);
    if (!old) out.push({ service: s.name, change: 'added', to: s.revision });
    else if (old.revision !== s.revision) out.push({ service: s.name, change: 'revision', from: old.revision, to: s.revision });
    else if (old.replicas !== s.replicas) out.push({ service: s.name, change: 'replicas', from: String(old.replicas), to: String(s.replicas) });
    else if (canonicalJson(old.release ?? null) !== canonicalJson(s.release ?? null)) out.push({ service: s.name, change: 'release', ...(old.release ? { from: old.release.strategy } : {}), ...(s.release ? { to: s.release.strategy } : {}) });
    else out.push({ service: s.name, change: 'unchanged' });
  }
  for (const name of before.keys()) out.push({ service: name, change: 'removed' });
  return out;
}
