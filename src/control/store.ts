// The control plane's state in SQLite (WAL): desired state, revisions, instance records, events,
// node cursors. Only the control plane opens this database; transactions stay short.
import Database from 'better-sqlite3';
import { renameSync, rmSync } from 'node:fs';
import type { AgentEvent, InstanceObserved } from '../lib/agent-protocol.js';
import type { DesiredState, InstanceTemplate } from '../plan/index.js';

export type InstancePhase = 'active' | 'terminating' | 'stopped';

export interface InstanceRecord {
  id: string;
  service: string;
  revision: string;
  node: string;
  host: string;
  phase: InstancePhase;
  /** Sent to a node agent at least once (dependsOn gates only the first dispatch). */
  dispatched: boolean;
  createdAt: string;
  stoppedAt?: string;
  lastObserved?: InstanceObserved;
}

export interface StoredEvent {
  seq: number;
  at: string;
  type: 'Normal' | 'Warning';
  reason: string;
  message: string;
  node?: string;
  service?: string;
  instance?: string;
  source: string;
}

export type NewEvent = Omit<StoredEvent, 'seq' | 'at' | 'source'> & { at?: string; source?: string };

interface InstanceRow {
  id: string;
  service: string;
  revision: string;
  node: string;
  host: string;
  phase: InstancePhase;
  dispatched: number;
  created_at: string;
  stopped_at: string | null;
  last_observed: string | null;
}

const SCHEMA = `
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS scale_overrides (service TEXT PRIMARY KEY, replicas INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS restart_generations (service TEXT PRIMARY KEY, gen INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS revisions (service TEXT NOT NULL, revision TEXT NOT NULL, template TEXT NOT NULL, created_at TEXT NOT NULL, PRIMARY KEY (service, revision));
CREATE TABLE IF NOT EXISTS instances (
  id TEXT PRIMARY KEY, service TEXT NOT NULL, revision TEXT NOT NULL, node TEXT NOT NULL, host TEXT NOT NULL,
  phase TEXT NOT NULL, dispatched INTEGER NOT NULL DEFAULT 0, created_at TEXT NOT NULL, stopped_at TEXT, last_observed TEXT);
CREATE INDEX IF NOT EXISTS instances_phase ON instances (phase);
CREATE TABLE IF NOT EXISTS events (
  seq INTEGER PRIMARY KEY AUTOINCREMENT, at TEXT NOT NULL, type TEXT NOT NULL, reason TEXT NOT NULL, message TEXT NOT NULL,
  node TEXT, service TEXT, instance TEXT, source TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS revision_history (
  service TEXT NOT NULL, number INTEGER NOT NULL, revision TEXT NOT NULL, status TEXT NOT NULL, why TEXT NOT NULL,
  at TEXT NOT NULL, spec_file TEXT NOT NULL, message TEXT, spec TEXT NOT NULL, PRIMARY KEY (service, number));
CREATE TABLE IF NOT EXISTS node_cursors (node TEXT PRIMARY KEY, after_seq INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS nodes (
  name TEXT PRIMARY KEY, idx INTEGER NOT NULL UNIQUE, capacity TEXT NOT NULL, labels TEXT NOT NULL,
  cordoned INTEGER NOT NULL DEFAULT 0, draining INTEGER NOT NULL DEFAULT 0, source TEXT NOT NULL, created_at TEXT NOT NULL);
`;

/** One row of a service's revision history (release/history.ts gives it meaning). */
export interface RevisionRow {
  service: string;
  number: number;
  revision: string;
  status: string;
  why: string;
  at: string;
  spec_file: string;
  message: string | null;
  /** The compiled DesiredService, JSON. */
  spec: string;
}

/** A node as the control plane records it: declared in the spec or added with `berth node add`. */
export interface NodeRecord {
  name: string;
  /** Address block: its instances live at 127.<idx>.<app slot>.<i>. */
  idx: number;
  capacity: { cpuMillis?: number; memoryMiB?: number };
  labels: Record<string, string>;
  cordoned: boolean;
  draining: boolean;
  source: 'spec' | 'added';
  createdAt: string;
}

interface NodeRow {
  name: string;
  idx: number;
  capacity: string;
  labels: string;
  cordoned: number;
  draining: number;
  source: 'spec' | 'added';
  created_at: string;
}

const MAX_EVENTS = 20_000;
const MAX_STOPPED_INSTANCES = 500;

/** The state database cannot be used (truncated, overwritten, not SQLite): what is wrong and how to recover. */
export class StateCorruptError extends Error {
  readonly code = 'BERTH_E_STATE_CORRUPT';
  constructor(
    readonly path: string,
    readonly detail: string,
    readonly backup: string | undefined,
  ) {
    super(
      `the state database ${path} is damaged (${detail}). ` +
        (backup ? `Restore the last good copy the control plane kept (${backup}) with \`berth up --restore-backup\`, or start` : 'Start') +
        ' afresh with `berth down --force` (stops every process of the app and moves the damaged database aside) and then `berth up`.',
    );
  }
}

const isSqliteError = (err: unknown): err is Error & { code: string } => {
  const code = (err as { code?: unknown } | null)?.code;
  return err instanceof Error && typeof code === 'string' && code.startsWith('SQLITE_');
};

export class Store {
  private readonly db: Database.Database;
  /** total_changes() when the last backup was taken (a backup is skipped when nothing changed). */
  private backedUpAt = -1;

  /** Opens (or creates) the state database; a damaged one throws StateCorruptError naming `backup` if it exists. */
  constructor(path: string, backup?: string) {
    try {
      this.db = new Database(path);
      this.db.pragma('busy_timeout = 2000');
      // A damaged file may open fine and fail later: check it once, before anything reads it.
      const check = this.db.pragma('quick_check', { simple: true }) as string;
      if (check !== 'ok') throw new StateCorruptError(path, `integrity check: ${check}`, backup);
      this.db.pragma('journal_mode = WAL');
      this.db.pragma('synchronous = NORMAL');
      this.db.exec(SCHEMA);
    } catch (err) {
      if (isSqliteError(err)) throw new StateCorruptError(path, `${err.code}: ${err.message}`, backup);
      throw err;
    }
  }

  /**
   * Copies the database to `dest` (atomically: VACUUM INTO a temp file, then rename) unless nothing
   * changed since the last copy. The control plane keeps this as its last good state.
   */
  backup(dest: string): boolean {
    const changes = (this.db.prepare('SELECT total_changes() AS n').get() as { n: number }).n;
    if (changes === this.backedUpAt) return false;
    const tmp = `${dest}.${process.pid}.tmp`;
    rmSync(tmp, { force: true });
    this.db.prepare('VACUUM INTO ?').run(tmp);
    renameSync(tmp, dest);
    this.backedUpAt = changes;
    return true;
  }

  close(): void {
    this.db.close();
  }

  getMeta(key: string): string | undefined {
    const row = this.db.prepare('SELECT value FROM meta WHERE key = ?').get(key) as { value: string } | undefined;
    return row?.value;
  }

  setMeta(key: string, value: string): void {
    this.db.prepare('INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value').run(key, value);
  }

  deleteMeta(key: string): void {
    this.db.prepare('DELETE FROM meta WHERE key = ?').run(key);
  }

  /** Every meta entry (the read model loads them once). */
  allMeta(): [string, string][] {
    return (this.db.prepare('SELECT key, value FROM meta').all() as { key: string; value: string }[]).map((r) => [r.key, r.value]);
  }

  /** Every stored revision template (the read model loads them once). */
  allTemplates(): { service: string; revision: string; template: InstanceTemplate }[] {
    const rows = this.db.prepare('SELECT service, revision, template FROM revisions').all() as { service: string; revision: string; template: string }[];
    return rows.map((r) => ({ service: r.service, revision: r.revision, template: JSON.parse(r.template) as InstanceTemplate }));
  }

  instanceIds(): string[] {
    return (this.db.prepare('SELECT id FROM instances').all() as { id: string }[]).map((r) => r.id);
  }

  getDesired(): DesiredState | undefined {
    const v = this.getMeta('desired');
    return v ? (JSON.parse(v) as DesiredState) : undefined;
  }

  /** Stores the new desired state and every revision template it names (templates are immutable per revision). */
  setDesired(desired: DesiredState): void {
    const now = new Date().toISOString();
    const insertRev = this.db.prepare('INSERT OR IGNORE INTO revisions (service, revision, template, created_at) VALUES (?, ?, ?, ?)');
    this.db.transaction(() => {
      for (const s of desired.services) insertRev.run(s.name, s.revision, JSON.stringify(s.template), now);
      this.setMeta('desired', JSON.stringify(desired));
    })();
  }

  getTemplate(service: string, revision: string): InstanceTemplate | undefined {
    const row = this.db.prepare('SELECT template FROM revisions WHERE service = ? AND revision = ?').get(service, revision) as { template: string } | undefined;
    return row ? (JSON.parse(row.template) as InstanceTemplate) : undefined;
  }

  /** A service's revision history, oldest first. */
  revisionHistory(service: string): RevisionRow[] {
    return this.db.prepare('SELECT * FROM revision_history WHERE service = ? ORDER BY number').all(service) as RevisionRow[];
  }

  revisionHistoryServices(): string[] {
    return (this.db.prepare('SELECT DISTINCT service FROM revision_history ORDER BY service').all() as { service: string }[]).map((r) => r.service);
  }

  insertRevisionEntry(row: RevisionRow): void {
    this.db
      .prepare('INSERT INTO revision_history (service, number, revision, status, why, at, spec_file, message, spec) VALUES (@service, @number, @revision, @status, @why, @at, @spec_file, @message, @spec)')
      .run(row);
  }

  setRevisionEntryStatus(service: string, number: number, status: string, why: string): void {
    this.db.prepare('UPDATE revision_history SET status = ?, why = ? WHERE service = ? AND number = ?').run(status, why, service, number);
  }

  deleteRevisionEntries(service: string, numbers: number[]): void {
    const del = this.db.prepare('DELETE FROM revision_history WHERE service = ? AND number = ?');
    this.db.transaction(() => {
      for (const n of numbers) del.run(service, n);
    })();
  }

  scaleOverrides(): Record<string, number> {
    const rows = this.db.prepare('SELECT service, replicas FROM scale_overrides').all() as { service: string; replicas: number }[];
    return Object.fromEntries(rows.map((r) => [r.service, r.replicas]));
  }

  setScaleOverride(service: string, replicas: number | undefined): void {
    if (replicas === undefined) this.db.prepare('DELETE FROM scale_overrides WHERE service = ?').run(service);
    else this.db.prepare('INSERT INTO scale_overrides (service, replicas) VALUES (?, ?) ON CONFLICT(service) DO UPDATE SET replicas = excluded.replicas').run(service, replicas);
  }

  restartGenerations(): Record<string, number> {
    const rows = this.db.prepare('SELECT service, gen FROM restart_generations').all() as { service: string; gen: number }[];
    return Object.fromEntries(rows.map((r) => [r.service, r.gen]));
  }

  bumpRestartGeneration(service: string): number {
    this.db.prepare('INSERT INTO restart_generations (service, gen) VALUES (?, 1) ON CONFLICT(service) DO UPDATE SET gen = gen + 1').run(service);
    return this.restartGenerations()[service];
  }

  private toRecord(r: InstanceRow): InstanceRecord {
    return {
      id: r.id,
      service: r.service,
      revision: r.revision,
      node: r.node,
      host: r.host,
      phase: r.phase,
      dispatched: r.dispatched === 1,
      createdAt: r.created_at,
      ...(r.stopped_at ? { stoppedAt: r.stopped_at } : {}),
      ...(r.last_observed ? { lastObserved: JSON.parse(r.last_observed) as InstanceObserved } : {}),
    };
  }

  /** Instances not yet stopped (active and terminating). */
  liveInstances(): InstanceRecord[] {
    const rows = this.db.prepare("SELECT * FROM instances WHERE phase != 'stopped' ORDER BY created_at, id").all() as InstanceRow[];
    return rows.map((r) => this.toRecord(r));
  }

  allInstances(): InstanceRecord[] {
    const rows = this.db.prepare('SELECT * FROM instances ORDER BY created_at, id').all() as InstanceRow[];
    return rows.map((r) => this.toRecord(r));
  }

  getInstance(id: string): InstanceRecord | undefined {
    const row = this.db.prepare('SELECT * FROM instances WHERE id = ?').get(id) as InstanceRow | undefined;
    return row ? this.toRecord(row) : undefined;
  }

  insertInstance(rec: Omit<InstanceRecord, 'phase' | 'dispatched' | 'createdAt'>): InstanceRecord {
    const createdAt = new Date().toISOString();
    this.db
      .prepare("INSERT INTO instances (id, service, revision, node, host, phase, dispatched, created_at) VALUES (?, ?, ?, ?, ?, 'active', 0, ?)")
      .run(rec.id, rec.service, rec.revision, rec.node, rec.host, createdAt);
    return { id: rec.id, service: rec.service, revision: rec.revision, node: rec.node, host: rec.host, phase: 'active', dispatched: false, createdAt };
  }

  /** Binds a pending instance to a node and its address there (the scheduler's decision). */
  bindInstance(id: string, node: string, host: string): void {
    this.db.prepare("UPDATE instances SET node = ?, host = ? WHERE id = ? AND node = ''").run(node, host, id);
  }

  nodes(): NodeRecord[] {
    const rows = this.db.prepare('SELECT * FROM nodes ORDER BY idx').all() as NodeRow[];
    return rows.map((r) => ({
      name: r.name,
      idx: r.idx,
      capacity: JSON.parse(r.capacity) as NodeRecord['capacity'],
      labels: JSON.parse(r.labels) as Record<string, string>,
      cordoned: r.cordoned === 1,
      draining: r.draining === 1,
      source: r.source,
      createdAt: r.created_at,
    }));
  }

  /** Inserts or updates a node; a new node takes the lowest free address block. */
  upsertNode(name: string, capacity: NodeRecord['capacity'], labels: Record<string, string>, source: NodeRecord['source']): void {
    this.db.transaction(() => {
      const existing = this.db.prepare('SELECT idx FROM nodes WHERE name = ?').get(name) as { idx: number } | undefined;
      if (existing) {
        this.db.prepare('UPDATE nodes SET capacity = ?, labels = ? WHERE name = ?').run(JSON.stringify(capacity), JSON.stringify(labels), name);
        return;
      }
      const used = new Set((this.db.prepare('SELECT idx FROM nodes').all() as { idx: number }[]).map((r) => r.idx));
      let idx = 1;
      while (used.has(idx)) idx++;
      this.db
        .prepare('INSERT INTO nodes (name, idx, capacity, labels, cordoned, draining, source, created_at) VALUES (?, ?, ?, ?, 0, 0, ?, ?)')
        .run(name, idx, JSON.stringify(capacity), JSON.stringify(labels), source, new Date().toISOString());
    })();
  }

  setNodeFlags(name: string, flags: { cordoned?: boolean; draining?: boolean }): void {
    if (flags.cordoned !== undefined) this.db.prepare('UPDATE nodes SET cordoned = ? WHERE name = ?').run(flags.cordoned ? 1 : 0, name);
    if (flags.draining !== undefined) this.db.prepare('UPDATE nodes SET draining = ? WHERE name = ?').run(flags.draining ? 1 : 0, name);
  }

  deleteNode(name: string): void {
    this.db.prepare('DELETE FROM nodes WHERE name = ?').run(name);
  }

  markDispatched(id: string): void {
    this.db.prepare('UPDATE instances SET dispatched = 1 WHERE id = ?').run(id);
  }

  markTerminating(id: string): void {
    this.db.prepare("UPDATE instances SET phase = 'terminating' WHERE id = ? AND phase = 'active'").run(id);
  }

  markStopped(id: string, lastObserved: InstanceObserved | undefined): void {
    this.db
      .prepare("UPDATE instances SET phase = 'stopped', stopped_at = ?, last_observed = COALESCE(?, last_observed) WHERE id = ?")
      .run(new Date().toISOString(), lastObserved ? JSON.stringify(lastObserved) : null, id);
    this.db
      .prepare(
        "DELETE FROM instances WHERE phase = 'stopped' AND id NOT IN (SELECT id FROM instances WHERE phase = 'stopped' ORDER BY stopped_at DESC LIMIT ?)",
      )
      .run(MAX_STOPPED_INSTANCES);
  }

  saveObserved(id: string, observed: InstanceObserved): void {
    this.db.prepare('UPDATE instances SET last_observed = ? WHERE id = ?').run(JSON.stringify(observed), id);
  }

  addEvent(e: NewEvent): StoredEvent {
    const at = e.at ?? new Date().toISOString();
    const source = e.source ?? 'control';
    const info = this.db
      .prepare('INSERT INTO events (at, type, reason, message, node, service, instance, source) VALUES (?, ?, ?, ?, ?, ?, ?, ?)')
      .run(at, e.type, e.reason, e.message, e.node ?? null, e.service ?? null, e.instance ?? null, source);
    const seq = Number(info.lastInsertRowid);
    if (seq % 1000 === 0) this.db.prepare('DELETE FROM events WHERE seq <= ?').run(seq - MAX_EVENTS);
    return { seq, at, type: e.type, reason: e.reason, message: e.message, node: e.node, service: e.service, instance: e.instance, source };
  }

  /** Records a batch of a node agent's events and advances that node's cursor in one transaction. */
  addAgentEvents(node: string, events: AgentEvent[]): void {
    if (events.length === 0) return;
    this.db.transaction(() => {
      for (const e of events) this.addEvent({ at: e.at, type: e.type, reason: e.reason, message: e.message, node: e.node, service: e.service, instance: e.instance, source: `agent/${node}` });
      this.db
        .prepare('INSERT INTO node_cursors (node, after_seq) VALUES (?, ?) ON CONFLICT(node) DO UPDATE SET after_seq = excluded.after_seq')
        .run(node, events[events.length - 1].seq);
    })();
  }

  nodeCursor(node: string): number {
    const row = this.db.prepare('SELECT after_seq FROM node_cursors WHERE node = ?').get(node) as { after_seq: number } | undefined;
    return row?.after_seq ?? 0;
  }

  events(after: number, limit: number): StoredEvent[] {
    const rows = this.db.prepare('SELECT * FROM events WHERE seq > ? ORDER BY seq LIMIT ?').all(after, limit) as (Omit<StoredEvent, 'node' | 'service' | 'instance'> & {
      node: string | null;
      service: string | null;
      instance: string | null;
    })[];
    return rows.map((r) => ({
      seq: r.seq,
      at: r.at,
      type: r.type,
      reason: r.reason,
      message: r.message,
      source: r.source,
      ...(r.node ? { node: r.node } : {}),
      ...(r.service ? { service: r.service } : {}),
      ...(r.instance ? { instance: r.instance } : {}),
    }));
  }

  lastEventSeq(): number {
    const row = this.db.prepare('SELECT MAX(seq) AS s FROM events').get() as { s: number | null };
    return row.s ?? 0;
  }
}
