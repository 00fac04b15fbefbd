// Where a node agent keeps its files under the state directory.
import { join } from 'node:path';

/** `<stateDir>/nodes/<node>`: the directory of one node's agent files. */
export function nodeDir(stateDir: string, node: string): string {
  return join(stateDir, 'nodes', node);
}

/** `agent.json`: how to reach the agent (AgentInfo). */
export function agentInfoPath(stateDir: string, node: string): string {
  return join(nodeDir(stateDir, node), 'agent.json');
}

/** `processes.json`: every process the agent runs (pid + start time), for fencing if the agent dies. */
export function processesPath(stateDir: string, node: string): string {
  return join(nodeDir(stateDir, node), 'processes.json');
}

/** `events.ndjson`: every agent event, one JSON object per line. */
export function eventsPath(stateDir: string, node: string): string {
  return join(nodeDir(stateDir, node), 'events.ndjson');
}
