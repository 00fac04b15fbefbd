// Makes `berth down` final when it races a `berth up`. `down` writes a new epoch to `.berth/down-epoch`
// before it stops anything; an `up` (or `apply`) remembers the epoch it began under and sends it with its
// apply, and the control plane refuses an apply that a later `down` overtook — so an app is never started
// after a `down` returned, and the `up` says why it stopped instead of failing with a raw connection error.
import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { writeFileAtomic } from './files.js';

function epochPath(stateDir: string): string {
  return join(stateDir, 'down-epoch');
}

/** The epoch of the last `down` for this state directory ('' when none ran). */
export function readDownEpoch(stateDir: string): string {
  try {
    return readFileSync(epochPath(stateDir), 'utf8').trim();
  } catch {
    return ''; // no `down` ran here yet (or the state dir is gone, which `up` recreates)
  }
}

/** Starts a new epoch: every `up` begun before this call can no longer apply. Returns the new epoch. */
export function bumpDownEpoch(stateDir: string): string {
  mkdirSync(stateDir, { recursive: true, mode: 0o700 });
  const epoch = `${Date.now()}-${randomBytes(6).toString('hex')}`;
  writeFileAtomic(epochPath(stateDir), epoch + '\n', 0o600);
  return epoch;
}

/**
 * True when the last `down` ran after this process started: a `down` typed right after an `up` may finish
 * before the `up` process has even read the epoch, and must still win.
 */
export function downSinceProcessStart(epoch: string): boolean {
  const at = Number.parseInt(epoch, 10);
  if (!Number.isFinite(at)) return false;
  const startedAt = Date.now() - process.uptime() * 1000;
  return at >= startedAt;
}
