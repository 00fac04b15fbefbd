// Linux /proc helpers shared by the node agent, the control plane and the CLI:
// process liveness that treats zombies as dead and guards against PID reuse, process-group
// membership, resident memory, and group signalling.
import { readFileSync, readdirSync } from 'node:fs';

/** The fields of /proc/PID/stat that Berth uses. */
export interface ProcStat {
  pid: number;
  /** Process name as the kernel reports it (may contain spaces and parentheses). */
  comm: string;
  /** One-letter state: R, S, D, Z (zombie), X (dead), T, t, I … */
  state: string;
  ppid: number;
  pgrp: number;
  session: number;
  /** Field 22: start time in clock ticks since boot; with the PID it identifies a process uniquely. */
  startTime: number;
}

/** Parses the text of /proc/PID/stat; comm is delimited by the first '(' and the LAST ')', so names with spaces or parens are safe. */
export function parseProcStat(text: string): ProcStat | undefined {
  const open = text.indexOf('(');
  const close = text.lastIndexOf(')');
  if (open < 0 || close < open) return undefined;
  const pid = Number(text.slice(0, open).trim());
  const comm = text.slice(open + 1, close);
  // After ") " come fields 3.. : state ppid pgrp session tty_nr tpgid flags minflt cminflt majflt cmajflt
  // utime stime cutime cstime priority nice num_threads itrealvalue starttime(22)
  const rest = text.slice(close + 2).trim().split(/\s+/);
  if (rest.length < 20 || !Number.isInteger(pid)) return undefined;
  const num = (i: number): number => Number(rest[i]);
  const stat: ProcStat = { pid, comm, state: rest[0], ppid: num(1), pgrp: num(2), session: num(3), startTime: num(19) };
  if ([stat.ppid, stat.pgrp, stat.session, stat.startTime].some((n) => !Number.isFinite(n))) return undefined;
  return stat;
}

/** Reads and parses /proc/PID/stat; undefined when the process does not exist. */
export function readProcStat(pid: number): ProcStat | undefined {
  if (!Number.isInteger(pid) || pid <= 0) return undefined;
  try {
    return parseProcStat(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return undefined;
  }
}

/** True when the process exists, is not a zombie ('Z') or dead ('X'), and (if given) has this start time. */
export function isProcessAlive(pid: number, startTime?: number): boolean {
  const stat = readProcStat(pid);
  if (!stat) return false;
  if (stat.state === 'Z' || stat.state === 'X') return false;
  return startTime === undefined || stat.startTime === startTime;
}

/** Stat of every live (non-zombie) process visible in /proc, read in one pass. */
export function listProcStats(): ProcStat[] {
  const out: ProcStat[] = [];
  let names: string[];
  try {
    names = readdirSync('/proc');
  } catch {
    return out;
  }
  for (const name of names) {
    const c = name.charCodeAt(0);
    if (c < 48 || c > 57) continue;
    const stat = readProcStat(Number(name));
    if (stat && stat.state !== 'Z' && stat.state !== 'X') out.push(stat);
  }
  return out;
}

/** PIDs of the live (non-zombie) members of process group `pgid`. */
export function groupMembers(pgid: number): number[] {
  return listProcStats()
    .filter((s) => s.pgrp === pgid)
    .map((s) => s.pid);
}

/** Direct children of `pid` forked by its main thread (/proc/PID/task/PID/children); undefined if unsupported or gone. */
export function childPids(pid: number): number[] | undefined {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8');
  } catch {
    return undefined;
  }
  return text
    .split(' ')
    .filter((s) => s.trim() !== '')
    .map(Number);
}

/** True while process group `pgid` has a live (non-zombie) member; a cheap kill(-pgid, 0) answers most cases. */
export function groupHasLiveMembers(pgid: number): boolean {
  if (!Number.isInteger(pgid) || pgid <= 1) return false;
  try {
    process.kill(-pgid, 0);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ESRCH') return false;
  }
  return groupMembers(pgid).length > 0;
}

/** Resident memory (bytes) and process group of one live process, from a single read of /proc/PID/stat. */
export function readMemoryAndGroup(pid: number): { rssBytes: number; pgrp: number } | undefined {
  // /proc/PID/stat rather than status: one short line, fixed fields — this runs several times a second.
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined;
  }
  const f = text.slice(text.lastIndexOf(')') + 2).split(' ');
  const state = f[0];
  if (state === 'Z' || state === 'X') return undefined;
  return { rssBytes: Number(f[21]) * PAGE_BYTES, pgrp: Number(f[2]) };
}

/** Resident set size of one process in bytes (VmRSS from /proc/PID/status); 0 when gone or a kernel thread. */
export function rssBytes(pid: number): number {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/status`, 'utf8');
  } catch {
    return 0;
  }
  const m = /^VmRSS:\s+(\d+)\s+kB/m.exec(text);
  return m ? Number(m[1]) * 1024 : 0;
}

/** Sends `signal` to every process of group `pgid` (kill(-pgid)); returns false if the group no longer exists (ESRCH ignored). */
export function killGroup(pgid: number, signal: NodeJS.Signals | number): boolean {
  if (!Number.isInteger(pgid) || pgid <= 1) return false;
  try {
    process.kill(-pgid, signal);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ESRCH') return false;
    throw err;
  }
}

/** Start time (field 22 of /proc/self/stat) of the current process. */
export function selfStartTime(): number {
  const stat = readProcStat(process.pid);
  if (!stat) throw new Error('cannot read /proc/self/stat');
  return stat.startTime;
}

/** CPU time (user + system, fields 14 and 15 of /proc/PID/stat) in clock ticks; undefined when gone. */
export function cpuTicks(pid: number): number | undefined {
  try {
    const text = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
    return Number(fields[11]) + Number(fields[12]);
  } catch {
    return undefined;
  }
}

/** Clock ticks per second of /proc times (USER_HZ; 100 on Linux for every common architecture). */
export const CLOCK_TICKS_PER_SECOND = 100;

/** Page size of /proc's page counts (4 KiB on every architecture Berth runs on). */
const PAGE_BYTES = 4096;

/** CPU ticks (utime + stime) and resident bytes (field 24) from one read of /proc/PID/stat; undefined when gone. */
export function cpuAndRss(pid: number): { ticks: number; rssBytes: number } | undefined {
  try {
    const text = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = text.slice(text.lastIndexOf(')') + 2).split(' ');
    return { ticks: Number(f[11]) + Number(f[12]), rssBytes: Number(f[21]) * PAGE_BYTES };
  } catch {
    return undefined;
  }
}
