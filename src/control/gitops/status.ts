// A GitOps source's status as Argo CD reports an Application's: sync (Synced/OutOfSync/Unknown),
// health (the worst of git's services), the commit running and the branch head, the last error with
// every problem at file:line:col, and drift — computed when asked, from the records and the read model.
import type { DesiredState } from '../../plan/index.js';
import type { World } from '../world.js';
import { appHealth, detectDrift, serviceHealth, type DriftItem } from './drift.js';
import { redactUrl } from './git.js';
import type { GitopsConfig, GitopsState, HealthStatus, SyncStatus } from './records.js';

export interface GitopsStatusView {
  name: string;
  repo: string;
  branch: string;
  path: string;
  env: string | null;
  interval: string;
  autoSync: boolean;
  selfHeal: boolean;
  prune: boolean;
  suspended: boolean;
  sync: SyncStatus;
  health: HealthStatus;
  /** The commit running (applied last), its subject, and when it was applied. */
  revision: string | null;
  message: string | null;
  appliedAt: string | null;
  /** The newest commit on the branch, as last fetched. */
  head: string | null;
  headMessage: string | null;
  /** Why the last sync failed or was refused (null when the last one succeeded). */
  lastError: string | null;
  /** The refused commit and each problem as `file:line:col: …`. */
  failedRevision: string | null;
  errors: string[];
  drift: DriftItem[];
  services: { name: string; health: HealthStatus }[];
  /** Where a git host's push webhook goes, with the token that may call only that route. */
  webhook: { path: string; token: string | null };
}

export const formatInterval = (ms: number): string => (ms % 60_000 === 0 ? `${ms / 60_000}m` : ms % 1000 === 0 ? `${ms / 1000}s` : `${ms}ms`);
const short = (sha: string) => sha.slice(0, 7);

export function statusView(c: GitopsConfig, st: GitopsState, applied: DesiredState | undefined, world: World): GitopsStatusView {
  const drift = applied ? detectDrift(applied, world) : [];
  const services = (applied?.services ?? []).map((s) => ({ name: s.name, health: serviceHealth(world, s.name) }));
  const sync: SyncStatus = !st.head ? 'Unknown' : st.head === st.revision && drift.length === 0 ? 'Synced' : 'OutOfSync';
  const failed = st.failed && st.failed.sha !== st.revision ? st.failed : undefined;
  return {
    name: c.name,
    repo: redactUrl(c.repo),
    branch: c.branch,
    path: c.path,
    env: c.env ?? null,
    interval: formatInterval(c.intervalMs),
    autoSync: c.autoSync,
    selfHeal: c.selfHeal,
    prune: c.prune,
    suspended: st.suspended,
    sync,
    health: applied ? appHealth(services.map((s) => s.health)) : 'Missing',
    revision: st.revision ?? null,
    message: st.message ?? null,
    appliedAt: st.appliedAt ?? null,
    head: st.head ?? null,
    headMessage: st.headMessage ?? null,
    lastError: st.lastError ?? (failed ? `commit ${short(failed.sha)} was not applied: ${failed.errors[0] ?? 'refused'}` : null),
    failedRevision: failed?.sha ?? null,
    errors: failed?.errors ?? [],
    drift,
    services,
    webhook: { path: `/api/v1/gitops/${encodeURIComponent(c.name)}/refresh`, token: c.webhookToken ?? null },
  };
}
