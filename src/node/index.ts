// Public surface of the node agent for other Berth modules (control plane, CLI, tests).
export { startAgent, type AgentOptions, type RunningAgent } from './agent.js';
export { agentInfoPath, processesPath, eventsPath, nodeDir } from './paths.js';
export { readProcessesFile, fenceRecordedProcesses, waitForProcessesGone, type ProcessesFile } from './process-registry.js';
export type { RunningProcessRecord } from './instance.js';
export { restartDelaySeconds } from './backoff.js';
export { DEFAULT_LOG_ROTATION, type LogRotation } from './log-file.js';
