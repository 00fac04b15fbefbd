// Recovering from a damaged `.berth/state.db` (issue 12 point 13): move it (with its WAL and
// shared-memory files) aside, and optionally put the control plane's last good copy in its place.
// Only called while no control plane runs for the state dir (the CLI checks), so nothing has it open.
import { copyFileSync, existsSync, renameSync } from 'node:fs';
import { stateLayout } from './state-dir.js';

const SUFFIXES = ['', '-wal', '-shm'];

/** Renames state.db (and -wal/-shm) to `state.db.damaged-<time>`; returns the new name, or undefined when there was none. */
export function setStateDbAside(stateDir: string): string | undefined {
  const { db } = stateLayout(stateDir);
  if (!SUFFIXES.some((s) => existsSync(db + s))) return undefined;
  const aside = `${db}.damaged-${new Date().toISOString().replace(/[:.]/g, '-')}`;
  for (const s of SUFFIXES) if (existsSync(db + s)) renameSync(db + s, aside + s);
  return aside;
}

/** Replaces state.db by the last good copy; throws when there is no copy. Returns where the damaged one went. */
export function restoreStateBackup(stateDir: string): { restoredFrom: string; damagedAt: string | undefined } {
  const { db, dbBackup } = stateLayout(stateDir);
  if (!existsSync(dbBackup)) throw new Error(`no backup of the state database at ${dbBackup}: start afresh with \`berth down --force\` and \`berth up\``);
  const damagedAt = setStateDbAside(stateDir);
  copyFileSync(dbBackup, db);
  return { restoredFrom: dbBackup, damagedAt };
}
