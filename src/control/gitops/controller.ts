// The GitOps controller: one more controller over the read model, keyed by source name. Each pass
// fetches the branch when its interval is due (or a webhook asked), applies a new commit when
// auto-sync is on (load + validate + policy → apply through the control plane, as `berth apply`),
// and reverts drift when self-heal is on. A refused commit leaves the last good one running.
import { randomBytes, timingSafeEqual } from 'node:crypto';
import { chmodSync, mkdirSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { DesiredState } from '../../plan/index.js';
import type { ServiceChange } from '../desired-diff.js';
import type { NewEvent } from '../store.js';
import type { World } from '../world.js';
import { describeChanges, describeDrift, detectDrift, healable } from './drift.js';
import { checkoutWork, commitInfo, ensureBare, exportTree, fetchBranch, redactUrl, resolveCommit, type CommitInfo } from './git.js';
import { GitopsRecords, type GitopsConfig, type GitopsState, type HistoryEntry, type HistoryTrigger } from './records.js';
import { formatInterval, statusView, type GitopsStatusView } from './status.js';
import { portConflicts } from './ports.js';
import { checkTree } from './source.js';

export interface GitopsDeps {
  world: World;
  stateDir: string;
  /** Applies a desired state exactly as `POST /api/v1/apply` does. */
  apply(desired: DesiredState): Promise<ServiceChange[]>;
  restartGenerations(): Record<string, number>;
  event(e: NewEvent): void;
  /** Asks for a pass of `name` now. */
  enqueue(name: string): void;
  /** A source's records changed (a fetched head, a sync, an error): open dashboards re-read. */
  notify?(): void;
}

/** Argo CD's pause between two self-heal attempts. */
export const SELF_HEAL_BACKOFF_MS = 5000;
/** How often drift is checked when self-heal is on (at most; the interval when shorter). */
const DRIFT_CHECK_MS = 1000;

export interface SyncOutcome {
  ok: boolean;
  sha: string;
  changes: ServiceChange[];
  errors: string[];
}

const short = (sha: string) => sha.slice(0, 7);

export class GitopsController {
  readonly records: GitopsRecords;
  /** When each source was last fetched (monotonic ms); in memory: a restarted control plane fetches at once. */
  private readonly fetchedAt = new Map<string, number>();
  private readonly healedAt = new Map<string, number>();
  /** Sources a webhook or `sync` asked to fetch now. */
  private readonly refreshes = new Map<string, HistoryTrigger>();
  private readonly locks = new Map<string, Promise<unknown>>();

  constructor(private readonly deps: GitopsDeps) {
    this.records = new GitopsRecords(deps.world, () => deps.notify?.());
  }

  paths(name: string): { bare: string; candidate: string; work: string } {
    const own = join(this.deps.stateDir, 'gitops', name);
    // The working tree is what the apps run from: outside .berth/, which is private to Berth's user.
    return { bare: join(own, 'repo.git'), candidate: join(own, 'candidate'), work: join(dirname(this.deps.stateDir), '.berth-gitops', name) };
  }

  /** Every source's key, for the queue at start-up. */
  names(): string[] {
    return this.records.names();
  }

  /** One operation per source at a time (a pass, a manual sync, a rollback). */
  exclusive<T>(name: string, fn: () => Promise<T>): Promise<T> {
    const prev = this.locks.get(name) ?? Promise.resolve();
    const next = prev.then(fn, fn);
    const settled = next.then(
      () => undefined,
      () => undefined,
    );
    this.locks.set(name, settled);
    void settled.then(() => {
      if (this.locks.get(name) === settled) this.locks.delete(name);
    });
    return next;
  }

  add(config: GitopsConfig): void {
    if (this.records.config(config.name)) throw Object.assign(new Error(`a GitOps source named "${config.name}" exists already (\`berth gitops rm ${config.name}\` first)`), { status: 409 });
    const c = { ...config, webhookToken: config.webhookToken ?? randomBytes(24).toString('base64url') };
    this.records.setConfig(c);
    this.records.setState(c.name, { suspended: false });
    this.deps.event({ type: 'Normal', reason: 'GitOpsAdded', message: `gitops ${c.name}: watching ${redactUrl(c.repo)} branch ${c.branch}${c.path ? ` path ${c.path}` : ''} every ${formatInterval(c.intervalMs)}${c.autoSync ? ' (auto-sync)' : ''}` });
    this.deps.enqueue(c.name);
  }

  /** `gitops:` in a spec (berth up/apply): added when new, its configuration replaced when it changed. */
  upsert(config: GitopsConfig): 'created' | 'updated' | 'unchanged' {
    const old = this.records.config(config.name);
    if (!old) {
      this.add(config);
      return 'created';
    }
    const c = { ...config, webhookToken: old.webhookToken };
    if (JSON.stringify(old) === JSON.stringify(c)) return 'unchanged';
    this.records.setConfig(c);
    this.deps.event({ type: 'Normal', reason: 'GitOpsUpdated', message: `gitops ${c.name}: configuration changed by the spec` });
    this.deps.enqueue(c.name);
    return 'updated';
  }

  remove(name: string): void {
    this.need(name);
    this.records.remove(name);
    this.fetchedAt.delete(name);
    // The clone stays: the working tree the apps run from is one of its worktrees.
    this.deps.event({ type: 'Normal', reason: 'GitOpsRemoved', message: `gitops ${name} removed (what it applied keeps running)` });
  }

  setSuspended(name: string, suspended: boolean): GitopsStatusView {
    this.need(name);
    const st = this.records.state(name);
    if (st.suspended !== suspended) {
      this.records.setState(name, { ...st, suspended });
      this.deps.event({ type: 'Normal', reason: suspended ? 'GitOpsSuspended' : 'GitOpsResumed', message: `gitops ${name} ${suspended ? 'suspended: no auto-sync or self-heal until `berth gitops resume`' : 'resumed'}` });
    }
    if (!suspended) this.deps.enqueue(name);
    return this.status(name);
  }

  /** The webhook's own token for `name` is `given` (compared in constant time). */
  webhookAllowed(name: string, given: string): boolean {
    const want = this.records.config(name)?.webhookToken;
    if (!want || !given) return false;
    const a = Buffer.from(want);
    const b = Buffer.from(given);
    return a.length === b.length && timingSafeEqual(a, b);
  }

  /** A webhook: fetch now (the pass runs on the queue). */
  refresh(name: string): void {
    this.need(name);
    this.refreshes.set(name, 'webhook');
    this.deps.enqueue(name);
  }

  /** `berth gitops sync`: fetch and apply the branch's head now, whatever auto-sync says; a refused commit is tried again. */
  sync(name: string): Promise<SyncOutcome> {
    const c = this.need(name);
    return this.exclusive(name, async () => {
      const head = await this.fetch(c);
      return this.syncTo(c, head, 'manual');
    });
  }

  /** `berth gitops rollback`: apply an earlier commit and suspend auto-sync until resumed. */
  rollback(name: string, rev: string): Promise<SyncOutcome> {
    const c = this.need(name);
    return this.exclusive(name, async () => {
      const { bare } = this.paths(name);
      let sha = await resolveCommit(bare, rev);
      if (!sha) {
        await this.fetch(c);
        sha = await resolveCommit(bare, rev);
      }
      if (!sha) throw Object.assign(new Error(`no commit "${rev}" in ${redactUrl(c.repo)} (see \`berth gitops history ${name}\`)`), { status: 404 });
      const st = this.records.state(name);
      this.records.setState(name, { ...st, suspended: true });
      const out = await this.syncTo(c, sha, 'rollback');
      if (!out.ok) this.records.setState(name, { ...this.records.state(name), suspended: st.suspended });
      return out;
    });
  }

  history(name: string): HistoryEntry[] {
    this.need(name);
    return this.records.history(name);
  }

  list(): GitopsStatusView[] {
    return this.records.names().flatMap((n) => (this.records.config(n) ? [this.status(n)] : []));
  }

  status(name: string): GitopsStatusView {
    return statusView(this.need(name), this.records.state(name), this.records.applied(name), this.deps.world);
  }


  /** The queue's pass over one source. */
  reconcile(name: string): Promise<{ requeueAfterMs?: number }> {
    return this.exclusive(name, async () => {
      const c = this.records.config(name);
      if (!c) return {};
      const { world } = this.deps;
      const checkEvery = c.selfHeal ? Math.min(c.intervalMs, DRIFT_CHECK_MS) : c.intervalMs;
      if (world.down || world.shuttingDown) return { requeueAfterMs: checkEvery };
      const now = performance.now();
      const trigger = this.refreshes.get(name);
      const last = this.fetchedAt.get(name);
      if (trigger || last === undefined || now - last >= c.intervalMs) {
        this.refreshes.delete(name);
        try {
          await this.fetch(c);
        } catch {
          // recorded in the state by fetch(); the next pass tries again
        }
      }
      const st = this.records.state(name);
      if (c.autoSync && !st.suspended && st.head && st.head !== st.revision && st.failed?.sha !== st.head) {
        await this.syncTo(c, st.head, trigger ?? 'auto').catch((err: Error) => {
          if (!this.records.state(name).lastError) this.patchState(name, { lastError: `sync: ${err.message}` });
        });
      } else if (c.selfHeal && !st.suspended) {
        await this.heal(c).catch((err: Error) => this.patchState(name, { lastError: `self-heal: ${err.message}` }));
      }
      const since = performance.now() - (this.fetchedAt.get(name) ?? 0);
      return { requeueAfterMs: Math.max(50, Math.min(checkEvery, c.intervalMs - since)) };
    });
  }

  // ---------------------------------------------------------------- steps

  private need(name: string): GitopsConfig {
    const c = this.records.config(name);
    if (!c) throw Object.assign(new Error(`no GitOps source named "${name}" (see \`berth gitops ls\`)`), { status: 404 });
    return c;
  }

  private patchState(name: string, patch: Partial<GitopsState>): GitopsState {
    const next = { ...this.records.state(name), ...patch };
    for (const k of Object.keys(next) as (keyof GitopsState)[]) if (next[k] === undefined) delete next[k];
    if (JSON.stringify(next) !== JSON.stringify(this.records.state(name))) this.records.setState(name, next);
    return next;
  }

  /** Fetches the branch; records its head (or the failure). */
  private async fetch(c: GitopsConfig): Promise<string> {
    const { bare } = this.paths(c.name);
    try {
      await ensureBare(bare);
      const head = await fetchBranch(bare, c.repo, c.branch);
      this.fetchedAt.set(c.name, performance.now());
      const st = this.records.state(c.name);
      const info: CommitInfo | undefined = head !== st.head ? await commitInfo(bare, head) : undefined;
      this.patchState(c.name, { head, ...(info ? { headMessage: info.message } : {}), lastError: st.lastError?.startsWith('fetch:') ? undefined : st.lastError });
      return head;
    } catch (err) {
      this.fetchedAt.set(c.name, performance.now());
      const message = `fetch: ${(err as Error).message}`;
      if (this.records.state(c.name).lastError !== message) this.deps.event({ type: 'Warning', reason: 'GitOpsFetchFailed', message: `gitops ${c.name}: ${message}` });
      this.patchState(c.name, { lastError: message });
      throw err;
    }
  }

  /** Checks and applies commit `sha`; a refused one is recorded (with every problem) and nothing changes. */
  private async syncTo(c: GitopsConfig, sha: string, trigger: HistoryTrigger): Promise<SyncOutcome> {
    const { bare, candidate, work } = this.paths(c.name);
    const info = await commitInfo(bare, sha);
    const at = new Date().toISOString();
    const refuse = (errors: string[]): SyncOutcome => {
      this.patchState(c.name, { failed: { sha, message: info.message, at, errors }, lastError: undefined });
      this.records.addHistory(c.name, { sha, message: info.message, at, result: 'Failed', trigger, detail: errors });
      this.deps.event({ type: 'Warning', reason: 'GitOpsSyncFailed', message: `gitops ${c.name}: commit ${short(sha)} "${info.message}" not applied (${errors.length} problem${errors.length === 1 ? '' : 's'}): ${errors[0] ?? ''}` });
      return { ok: false, sha, changes: [], errors };
    };
    const gens = this.deps.restartGenerations();
    await exportTree(bare, sha, candidate);
    let checked;
    try {
      checked = await checkTree(candidate, c.path, c.env, gens);
    } finally {
      rmSync(candidate, { recursive: true, force: true });
    }
    if (!checked.ok) return refuse(checked.errors);
    const held = portConflicts(checked.desired, this.deps.stateDir, checked.specFile);
    if (held.length) return refuse(held);
    mkdirSync(dirname(work), { recursive: true });
    chmodSync(dirname(work), 0o755);
    await checkoutWork(bare, work, sha);
    chmodSync(work, 0o755);
    const onWork = await checkTree(work, c.path, c.env, gens);
    if (!onWork.ok) return refuse(onWork.errors);
    let changes: ServiceChange[];
    const next = this.withKept(c, onWork.desired);
    // The diff, as `berth diff` would show it, recorded with the sync.
    const diff = describeChanges(this.deps.world.desired, next);
    try {
      changes = await this.deps.apply(next);
    } catch (err) {
      this.patchState(c.name, { lastError: `apply: ${(err as Error).message}` });
      throw err;
    }
    this.records.setApplied(c.name, onWork.desired);
    this.patchState(c.name, { revision: sha, message: info.message, appliedAt: at, failed: undefined, lastError: undefined });
    const detail = changes.filter((ch) => ch.change !== 'unchanged').map((ch) => `${ch.service} ${ch.change}`);
    this.records.addHistory(c.name, { sha, message: info.message, at, result: 'Synced', trigger, detail: [...diff, ...onWork.warnings] });
    this.deps.event({ type: 'Normal', reason: 'GitOpsSynced', message: `gitops ${c.name}: applied ${short(sha)} "${info.message}"${detail.length ? `: ${detail.join(', ')}` : ': no change'}` });
    return { ok: true, sha, changes, errors: [] };
  }

  /** Without prune, services git no longer has keep running (as Argo CD leaves them, OutOfSync). */
  private withKept(c: GitopsConfig, desired: DesiredState): DesiredState {
    if (c.prune) return desired;
    const names = new Set(desired.services.map((s) => s.name));
    const kept = (this.deps.world.desired?.services ?? []).filter((s) => !names.has(s.name));
    return kept.length ? { ...desired, services: [...desired.services, ...kept] } : desired;
  }

  /** Self-heal: git's last applied state again, at most once per SELF_HEAL_BACKOFF_MS. */
  private async heal(c: GitopsConfig): Promise<void> {
    const applied = this.records.applied(c.name);
    if (!applied) return;
    const drift = healable(detectDrift(applied, this.deps.world), c.prune);
    if (drift.length === 0) return;
    const last = this.healedAt.get(c.name);
    if (last !== undefined && performance.now() - last < SELF_HEAL_BACKOFF_MS) return;
    this.healedAt.set(c.name, performance.now());
    const st = this.records.state(c.name);
    // A `berth scale` is an override beside the spec: dropped, so git's count is the one in force.
    for (const d of drift) if (d.field === 'replicas') this.deps.world.setScaleOverride(d.service, undefined);
    await this.deps.apply(this.withKept(c, applied));
    const detail = drift.map(describeDrift);
    this.records.addHistory(c.name, { sha: st.revision ?? '', message: st.message ?? '', at: new Date().toISOString(), result: 'Healed', trigger: 'self-heal', detail });
    this.deps.event({ type: 'Normal', reason: 'GitOpsSelfHeal', message: `gitops ${c.name}: reverted drift to ${short(st.revision ?? '')}: ${detail.join(', ')}` });
  }
}
