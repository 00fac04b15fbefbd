// What the GitOps controller keeps in the control plane's store (meta entries, written through the
// read model, so they survive restarts): each source's configuration and status, its sync history,
// and the desired state it last applied from git (what drift is measured against).
import type { DesiredState } from '../../plan/index.js';
import type { World } from '../world.js';

export type SyncStatus = 'Synced' | 'OutOfSync' | 'Unknown';
export type HealthStatus = 'Healthy' | 'Progressing' | 'Degraded' | 'Suspended' | 'Missing';

export interface GitopsConfig {
  name: string;
  /** A URL git understands, or an absolute local path. */
  repo: string;
  branch: string;
  /** The folder (or spec file) inside the repository; '' is its root. */
  path: string;
  env?: string;
  intervalMs: number;
  autoSync: boolean;
  selfHeal: boolean;
  prune: boolean;
  /** The source's own webhook token: it may call `POST /api/v1/gitops/NAME/refresh` and nothing else. */
  webhookToken?: string;
}

export interface GitopsState {
  /** Auto-sync and self-heal are off (`suspend`, `rollback`) until `resume`. */
  suspended: boolean;
  /** The commit applied last (the one running), its subject and when. */
  revision?: string;
  message?: string;
  appliedAt?: string;
  /** The newest commit fetched from the branch. */
  head?: string;
  headMessage?: string;
  /** The last commit that was tried and refused, and why (file:line:col lines). */
  failed?: { sha: string; message: string; at: string; errors: string[] };
  /** A failure that is not the commit's (fetch, apply). */
  lastError?: string;
}

export type HistoryResult = 'Synced' | 'Failed' | 'Healed';
export type HistoryTrigger = 'auto' | 'manual' | 'webhook' | 'self-heal' | 'rollback';

export interface HistoryEntry {
  sha: string;
  message: string;
  at: string;
  result: HistoryResult;
  trigger: HistoryTrigger;
  /** What changed (`service change`), or why it failed. */
  detail: string[];
}

const CONFIG = (name: string) => `gitops:${name}`;
const STATE = (name: string) => `gitops-state:${name}`;
const HISTORY = (name: string) => `gitops-history:${name}`;
const APPLIED = (name: string) => `gitops-applied:${name}`;
/** History entries kept per source (oldest dropped first). */
export const HISTORY_LIMIT = 100;

function parse<T>(text: string | undefined): T | undefined {
  if (text === undefined || text === '') return undefined;
  try {
    return JSON.parse(text) as T;
  } catch {
    return undefined;
  }
}

/** The GitOps records of one control plane, over its read model. */
export class GitopsRecords {
  /** `written` is called after every write (the dashboard follows changes that come without an event, such as a new head). */
  constructor(
    private readonly world: World,
    private readonly written: () => void = () => {},
  ) {}

  names(): string[] {
    return this.world
      .metaKeys('gitops:')
      .map((k) => k.slice('gitops:'.length))
      .sort();
  }

  config(name: string): GitopsConfig | undefined {
    return parse<GitopsConfig>(this.world.getMeta(CONFIG(name)));
  }

  state(name: string): GitopsState {
    return parse<GitopsState>(this.world.getMeta(STATE(name))) ?? { suspended: false };
  }

  history(name: string): HistoryEntry[] {
    return parse<HistoryEntry[]>(this.world.getMeta(HISTORY(name))) ?? [];
  }

  /** Parsed once per stored text: drift is checked every second against it. */
  private readonly appliedCache = new Map<string, { text: string; value: DesiredState | undefined }>();

  applied(name: string): DesiredState | undefined {
    const text = this.world.getMeta(APPLIED(name));
    if (text === undefined) return undefined;
    const hit = this.appliedCache.get(name);
    if (hit?.text === text) return hit.value;
    const value = parse<DesiredState>(text);
    this.appliedCache.set(name, { text, value });
    return value;
  }

  setConfig(c: GitopsConfig): void {
    this.world.setMeta(CONFIG(c.name), JSON.stringify(c));
    this.written();
  }

  /** Writes only what changed (every write bumps the read model's version). */
  setState(name: string, s: GitopsState): void {
    this.world.setMeta(STATE(name), JSON.stringify(s));
    this.written();
  }

  addHistory(name: string, e: HistoryEntry): void {
    const h = [...this.history(name), e].slice(-HISTORY_LIMIT);
    this.world.setMeta(HISTORY(name), JSON.stringify(h));
    this.written();
  }

  setApplied(name: string, d: DesiredState): void {
    this.world.setMeta(APPLIED(name), JSON.stringify(d));
    this.written();
  }

  remove(name: string): void {
    for (const k of [CONFIG(name), STATE(name), HISTORY(name), APPLIED(name)]) this.world.deleteMeta(k);
    this.written();
  }
}
