// Platform sidecar `logs` (the `berth-logs` agent), added to every instance group unless the
// service sets `logs.enabled: false`. It tails the group's capture files and `logs.files`, and ships
// to the configured sinks. Its configuration travels as JSON in BERTH_LOGS_CONFIG (so it is part of
// the revision hash: changing it rolls the service); identity comes from the BERTH_* variables.
import { isAbsolute, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { splitCommand } from '../../contract/index.js';
import { LOG_AGENT_CONFIG_ENV, LOG_AGENT_SIDECAR_NAME, LOG_AGENT_STATE_DIR_ENV, type LogAgentConfig } from '../../lib/log-agent-config.js';
import type { SidecarBuilder } from '../platform-sidecars.js';

/**
 * Node flags for the agent process under a memory limit of `memoryMiB`. A 2 MiB semi-space keeps the
 * young generation (most of the agent's allocations die there: records are encoded as they are built)
 * small; bench/logs measured peak RSS 68–75 MiB with it against 77–90 MiB with 8 MiB.
 */
export function logAgentHeapFlags(memoryMiB: number): string[] {
  return [`--max-old-space-size=${Math.max(24, Math.floor(memoryMiB / 2))}`, '--max-semi-space-size=2'];
}

const logsMain = fileURLToPath(new URL('../../sidecar/logs/main.js', import.meta.url));

export const logsSidecar: SidecarBuilder = (ctx) => {
  const logs = ctx.spec.logs;
  if (!logs || !logs.enabled) return undefined;
  const cwd = ctx.spec.cwd ? (isAbsolute(ctx.spec.cwd) ? ctx.spec.cwd : resolve(ctx.dir, ctx.spec.cwd)) : ctx.dir;
  const config: LogAgentConfig = {
    excludeProcesses: [LOG_AGENT_SIDECAR_NAME],
    files: logs.files,
    // Only when set, so the configuration (and the revision hash) of existing specs is unchanged.
    ...(logs.decompress ? { decompress: true } : {}),
    cwd,
    ...(logs.multiline ? { multiline: logs.multiline } : {}),
    parsers: logs.parsers,
    maxLineBytes: logs.maxLineBytes,
    ...(logs.flushMs !== undefined ? { flushMs: logs.flushMs } : {}),
    buffer: logs.buffer,
    sinks: logs.sinks,
  };
  // The heap is capped well below the memory limit, so a flood makes V8 collect instead of growing.
  const heapFlags = logAgentHeapFlags(logs.agent.memoryMiB);
  const argv = logs.agent.run !== undefined ? splitCommand(logs.agent.run) : [process.execPath, ...heapFlags, logsMain];
  return {
    sidecar: {
      name: LOG_AGENT_SIDECAR_NAME,
      argv,
      cwd,
      env: {
        BERTH_APP: ctx.app.app,
        BERTH_SERVICE: ctx.service,
        [LOG_AGENT_STATE_DIR_ENV]: join(ctx.dir, '.berth'),
        [LOG_AGENT_CONFIG_ENV]: JSON.stringify(config),
      },
      memoryMiB: logs.agent.memoryMiB,
    },
  };
};
