// Revision history: every applied change of a service (each deployment: a service or one of its
// variants) is a numbered revision — its number (1, 2, … per service), the revision hash, the
// compiled spec it came from, when and why (applied, promoted, aborted, undone) — kept in the
// control plane's store. The recorded facts never change; only an entry's status moves on (current →
// replaced …). `revisionHistoryLimit` (Argo's meaning: old revisions kept beside the current one)
// prunes the oldest. The release controller records promotions, aborts and undos through record().
import type { DesiredService, DesiredState } from '../../plan/index.js';
import type { RevisionRow, Store } from '../store.js';

export const REVISION_WHY = ['applied', 'promoted', 'aborted', 'undone'] as const;
export type RevisionWhy = (typeof REVISION_WHY)[number];

/** current: what the service runs now; progressing: being released; replaced / aborted / removed: no longer run. */
export const REVISION_STATUSES = ['current', 'progressing', 'replaced', 'aborted', 'removed'] as const;
export type RevisionStatus = (typeof REVISION_STATUSES)[number];

export interface RevisionEntry {
  service: string;
  number: number;
  /** The revision hash (what instances carry). */
  revision: string;
  status: RevisionStatus;
  why: RevisionWhy;
  /** ISO time it was recorded. */
  at: string;
  specFile: string;
  message?: string;
  /** The compiled service of that revision (what an undo re-applies). */
  spec: DesiredService;
}

/** Revision history's default limit (Argo revisionHistoryLimit). */
export const DEFAULT_REVISION_HISTORY_LIMIT = 10;

function toEntry(r: RevisionRow): RevisionEntry {
  return {
    service: r.service,
    number: r.number,
    revision: r.revision,
    status: r.status as RevisionStatus,
    why: r.why as RevisionWhy,
    at: r.at,
    specFile: r.spec_file,
    ...(r.message !== null ? { message: r.message } : {}),
    spec: JSON.parse(r.spec) as DesiredService,
  };
}

export class RevisionHistory {
  /** Entries by service, oldest first, loaded on first use (every write goes to the store first). */
  private readonly cache = new Map<string, RevisionEntry[]>();

  constructor(private readonly store: Store) {}

  /** The service's revisions, oldest first. */
  list(service: string): readonly RevisionEntry[] {
    let list = this.cache.get(service);
    if (!list) this.cache.set(service, (list = this.store.revisionHistory(service).map(toEntry)));
    return list;
  }

  /** Services that have a history. */
  services(): string[] {
    return this.store.revisionHistoryServices();
  }

  current(service: string): RevisionEntry | undefined {
    return [...this.list(service)].reverse().find((e) => e.status === 'current');
  }

  /** The entry with that number. */
  get(service: string, number: number): RevisionEntry | undefined {
    return this.list(service).find((e) => e.number === number);
  }

  /**
   * Appends a revision with the next number. `previous`: the status the current entry (if any)
   * moves to (default replaced). Prunes beyond `limit` old entries (the current one always stays).
   */
  record(spec: DesiredService, o: { why: RevisionWhy; status?: RevisionStatus; specFile: string; message?: string; previous?: RevisionStatus; limit?: number; at?: string }): RevisionEntry {
    const service = spec.name;
    const list = [...this.list(service)];
    const status = o.status ?? 'current';
    const prev = this.current(service);
    if (prev && status === 'current') this.setStatus(service, prev.number, o.previous ?? 'replaced');
    const entry: RevisionEntry = {
      service,
      number: (list[list.length - 1]?.number ?? 0) + 1,
      revision: spec.revision,
      status,
      why: o.why,
      at: o.at ?? new Date().toISOString(),
      specFile: o.specFile,
      ...(o.message !== undefined ? { message: o.message } : {}),
      spec: structuredClone(spec),
    };
    this.store.insertRevisionEntry({ service, number: entry.number, revision: entry.revision, status: entry.status, why: entry.why, at: entry.at, spec_file: entry.specFile, message: entry.message ?? null, spec: JSON.stringify(entry.spec) });
    this.cache.set(service, [...this.list(service), entry]);
    this.prune(service, o.limit ?? spec.release?.revisionHistoryLimit ?? DEFAULT_REVISION_HISTORY_LIMIT);
    return entry;
  }

  /** Moves an entry's status on (the recorded facts stay as they were). */
  /** Moves an entry's status on; `why` (a release's promotion or abort) says what moved it. */
  setStatus(service: string, number: number, status: RevisionStatus, why?: RevisionWhy): void {
    const list = this.list(service);
    const i = list.findIndex((e) => e.number === number);
    if (i < 0 || (list[i].status === status && (why === undefined || list[i].why === why))) return;
    const nextWhy = why ?? list[i].why;
    this.store.setRevisionEntryStatus(service, number, status, nextWhy);
    this.cache.set(service, list.map((e, j) => (j === i ? { ...e, status, why: nextWhy } : e)));
  }

  /**
   * After a desired state is stored: a new entry (why `applied`) for every deployment whose revision
   * changed or that is new, and `removed` for those that are gone. An unchanged revision records nothing.
   * `progressing`: services whose new revision starts a release (their current entry stays current).
   */
  recordDesired(desired: DesiredState, o: { why?: RevisionWhy; message?: string; at?: string; progressing?: ReadonlySet<string> } = {}): RevisionEntry[] {
    const out: RevisionEntry[] = [];
    const names = new Set(desired.services.map((s) => s.name));
    for (const s of desired.services) {
      const cur = this.current(s.name);
      if (cur && cur.revision === s.revision) continue;
      // Being released already (an `up` after a control-plane restart applies the same spec again).
      const last = this.list(s.name).at(-1);
      if (last && last.status === 'progressing' && last.revision === s.revision) continue;
      // A canary or preview is `progressing` beside the current revision until it is promoted.
      out.push(this.record(s, { why: o.why ?? 'applied', ...(o.progressing?.has(s.name) ? { status: 'progressing' as const } : {}), specFile: desired.specFile, ...(o.message !== undefined ? { message: o.message } : {}), ...(o.at !== undefined ? { at: o.at } : {}) }));
    }
    for (const service of this.services()) {
      if (names.has(service)) continue;
      const cur = this.current(service);
      if (cur) this.setStatus(service, cur.number, 'removed');
    }
    return out;
  }

  private prune(service: string, limit: number): void {
    const list = this.list(service);
    const old = list.filter((e) => e.status !== 'current' && e.status !== 'progressing');
    const drop = old.slice(0, Math.max(0, old.length - limit)).map((e) => e.number);
    if (drop.length === 0) return;
    this.store.deleteRevisionEntries(service, drop);
    this.cache.set(service, list.filter((e) => !drop.includes(e.number)));
  }
}

/** An entry as the API and `berth history --json` give it (without the compiled spec, which is large). */
export function publicEntry(e: RevisionEntry): Omit<RevisionEntry, 'spec' | 'service'> {
  const { spec: _spec, service: _service, ...rest } = e;
  return rest;
}
