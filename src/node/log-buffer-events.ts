// Says in `berth events` when an instance's log agent pauses reading because the disk under its disk
// buffer is full (or otherwise not writable) (Warning `LogBufferDiskFull`) and when it resumes (Normal `LogBufferResumed`),
// attributed to the instance and its service.
//
// Why the node agent and not a route for sidecars to post events: the log agent already writes
// `diskFull` (and a count of pauses) to `status.json` in its work dir, which the node agent — the
// owner of the instance, already reporting events — can read. So the sidecar credential keeps its
// narrow scope (snapshots, acks, log batches), an instance cannot invent reasons (the two reasons
// and the message template are fixed here; only the sink names and the capped error text come from
// the file), the log agent does nothing new (it can never block or crash on it), and the events
// survive a control plane that is down: they wait in the agent's event log like every other one.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { NewEvent } from './event-log.js';
import type { Instance } from './instance.js';
import { SidecarFileWatcher, type Sidecar } from './sidecar-file-watcher.js';
import { LOG_AGENT_SIDECAR_NAME, LOG_AGENT_STATE_DIR_ENV } from '../lib/log-agent-config.js';

/** What one read of a log agent's status.json says about its disk buffers. */
export interface LogBufferState {
  /** Some sink's disk buffer cannot be written: reading is paused. */
  full: boolean;
  /** Pauses since the log agent started (summed over sinks). */
  pauses: number;
  /** The full sinks and their error, for the message. */
  detail: string;
}

/** Longest error text taken from status.json into an event message (the file is the sidecar's). */
const MAX_DETAIL = 200;

/** Parses status.json; undefined when it is missing, torn (being rewritten) or not from this run (`at` before `since`). */
export function readLogBufferState(path: string, since?: string): LogBufferState | undefined {
  let status: { at?: unknown; sinks?: unknown };
  try {
    status = JSON.parse(readFileSync(path, 'utf8')) as typeof status;
  } catch {
    return undefined; // missing or torn: read again on the next tick
  }
  if (since !== undefined && (typeof status.at !== 'string' || status.at < since)) return undefined;
  if (typeof status.sinks !== 'object' || status.sinks === null) return undefined;
  let full = false;
  let pauses = 0;
  const parts: string[] = [];
  for (const [name, s] of Object.entries(status.sinks as Record<string, unknown>)) {
    if (typeof s !== 'object' || s === null) continue;
    const sink = s as { diskFull?: unknown; diskFullPauses?: unknown; diskError?: unknown };
    if (typeof sink.diskFullPauses === 'number' && Number.isSafeInteger(sink.diskFullPauses) && sink.diskFullPauses > 0) pauses += sink.diskFullPauses;
    if (sink.diskFull === true) {
      full = true;
      parts.push(typeof sink.diskError === 'string' ? `${name}: ${sink.diskError}` : name);
    }
  }
  let detail = parts.join('; ');
  if (detail.length > MAX_DETAIL) detail = `${detail.slice(0, MAX_DETAIL)}…`;
  return { full, pauses, detail };
}

/** The events a change from `prev` to `next` means, oldest first (pauses counted between two reads are not lost). */
export function logBufferEvents(prev: LogBufferState | undefined, next: LogBufferState): NewEvent[] {
  const wasFull = prev?.full ?? false;
  // A restarted log agent counts from 0 again; one that restarted while full and is full again has not resumed.
  let fresh = prev === undefined ? 0 : next.pauses >= prev.pauses ? next.pauses - prev.pauses : wasFull && next.full ? 0 : next.pauses;
  const out: NewEvent[] = [];
  const paused = (): void => {
    out.push({ type: 'Warning', reason: 'LogBufferDiskFull', message: `Log agent cannot write its disk buffer (${next.detail || 'disk full'}); reading paused, the lines wait in the app's files` });
  };
  const resumed = (): void => {
    out.push({ type: 'Normal', reason: 'LogBufferResumed', message: 'Log agent: disk space available again; reading resumed' });
  };
  if (wasFull && (!next.full || fresh > 0)) {
    resumed();
  } else if (!wasFull && next.full) {
    paused();
    fresh = 0; // this pause is the one just said
  }
  if (fresh > 0) {
    // Paused (and maybe resumed) between two reads.
    paused();
    if (!next.full) resumed();
  }
  return out;
}

/** Polls the status.json of every instance's log agent and appends the events of each change. */
export class LogBufferWatcher extends SidecarFileWatcher<LogBufferState> {
  protected sidecarOf(inst: Instance): Sidecar | undefined {
    return logAgentOf(inst);
  }

  protected override watching(inst: Instance): boolean {
    return !inst.isStopping;
  }

  protected read(inst: Instance, agent: Sidecar, prev: LogBufferState | undefined): { events: NewEvent[]; state: LogBufferState } | undefined {
    // The log agent keeps its files under $BERTH_STATE_DIR/logs-agent/<instance> (sidecar/logs/main.ts).
    const dir = agent.template.env[LOG_AGENT_STATE_DIR_ENV] ?? this.stateDir;
    // A status older than the running log agent is a previous run's (same instance id after a rollout).
    const next = readLogBufferState(join(dir, 'logs-agent', inst.id, 'status.json'), agent.startedAt!);
    return next ? { events: logBufferEvents(prev, next), state: next } : undefined;
  }
}

function logAgentOf(inst: Instance): Sidecar | undefined {
  return inst.sidecars.find((s) => s.template.name === LOG_AGENT_SIDECAR_NAME);
}
