// Fencing: killing what a dead node agent left behind, from the process records it kept (processes.json).
// A recorded group is killed while it has live members, even when its leader is dead: a shell wrapper's
// leader that died stays a zombie here (nobody reaps orphans), or is gone, while its children live on in
// its group. Members are found by scanning /proc/*/stat for the group id.
import { killGroup, listProcStats, readProcStat } from './proc.js';

/** A recorded process: the leader of its own group unless `pgid` says otherwise. */
export interface RecordedProcess {
  pid: number;
  startTime?: number;
  pgid?: number;
}

/**
 * Live members of the group that `rec` led. Empty when the group is gone, or when the leader's pid now names
 * another process (a pid is only reused once no group uses it as its id, so the recorded group is gone then).
 */
export function leftoverMembers(rec: RecordedProcess): number[] {
  const pgid = rec.pgid ?? rec.pid;
  if (!Number.isInteger(pgid) || pgid <= 1) return [];
  const leader = readProcStat(rec.pid);
  if (leader && rec.startTime !== undefined && leader.startTime !== rec.startTime) return [];
  // Every member was forked after the leader: a younger-than-leader check guards against a recycled group id.
  return listProcStats()
    .filter((s) => s.pgrp === pgid && (rec.startTime === undefined || s.startTime >= rec.startTime))
    .map((s) => s.pid);
}

/** SIGKILLs the recorded group while it has live members; returns the members that were signalled. */
export function fenceGroup(rec: RecordedProcess): number[] {
  const members = leftoverMembers(rec);
  if (members.length === 0) return [];
  killGroup(rec.pgid ?? rec.pid, 'SIGKILL');
  return members;
}

/** True while any member of the recorded group lives (the leader itself, or what it left in its group). */
export function groupLeftAlive(rec: RecordedProcess): boolean {
  return leftoverMembers(rec).length > 0;
}
