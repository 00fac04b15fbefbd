// processes.json: every process the agent currently runs (pid, start time, group), rewritten atomically on
// change, so that whoever finds the agent dead can fence (kill) what it left behind.
import { readFileSync } from 'node:fs';
import { fenceGroup, groupLeftAlive } from '../lib/fence.js';
import { writeJsonAtomic } from '../lib/files.js';
import type { RunningProcessRecord } from './instance.js';

/** Contents of processes.json. */
export interface ProcessesFile {
  node: string;
  agentPid: number;
  agentStartTime: number;
  updatedAt: string;
  processes: RunningProcessRecord[];
}

export class ProcessRegistry {
  private last = '';

  constructor(
    private readonly path: string,
    private readonly header: { node: string; agentPid: number; agentStartTime: number },
  ) {}

  /** Rewrites the file when the set of processes changed. */
  update(processes: RunningProcessRecord[]): void {
    const key = JSON.stringify(processes);
    if (key === this.last) return;
    this.last = key;
    const file: ProcessesFile = { ...this.header, updatedAt: new Date().toISOString(), processes };
    try {
      writeJsonAtomic(this.path, file);
    } catch (err) {
      process.stderr.write(`berth-agent: cannot write ${this.path}: ${(err as Error).message}\n`);
    }
  }
}

/** Reads processes.json; undefined when missing or unreadable. */
export function readProcessesFile(path: string): ProcessesFile | undefined {
  try {
    const parsed = JSON.parse(readFileSync(path, 'utf8')) as ProcessesFile;
    return Array.isArray(parsed.processes) ? parsed : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Fences a dead agent's leftovers: SIGKILLs the group of every recorded process while that group has live
 * members — its leader (same start time: PID reuse guarded) or, with the leader dead, what it left in its
 * group. Returns the processes whose groups were killed.
 */
export function fenceRecordedProcesses(path: string): RunningProcessRecord[] {
  const file = readProcessesFile(path);
  if (!file) return [];
  const killed: RunningProcessRecord[] = [];
  for (const p of file.processes) {
    if (typeof p.pid !== 'number') continue;
    if (fenceGroup(p).length > 0) killed.push(p);
  }
  return killed;
}

/** Waits (polling, up to `timeoutMs`) until every member of the given processes' groups is dead; true if they all are. */
export async function waitForProcessesGone(processes: RunningProcessRecord[], timeoutMs: number): Promise<boolean> {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    if (processes.every((p) => !groupLeftAlive(p))) return true;
    if (performance.now() >= deadline) return false;
    await new Promise((r) => setTimeout(r, 20));
  }
}
