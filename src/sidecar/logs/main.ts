// The `berth-logs` process: the log agent sidecar of one instance group. Reads its configuration
// from BERTH_LOGS_CONFIG and its identity from the BERTH_* variables, keeps its checkpoints and
// buffers under `$BERTH_STATE_DIR/logs-agent/<instance>/`, and exits cleanly on SIGTERM
// (in-flight batches get a short grace period; everything else resumes from the checkpoint).
import { join } from 'node:path';
import { LOG_AGENT_CONFIG_ENV, LOG_AGENT_STATE_DIR_ENV, type LogAgentConfig } from '../../lib/log-agent-config.js';
import { startLogAgent } from './agent.js';

function fail(msg: string): never {
  process.stderr.write(`berth-logs: ${msg}\n`);
  process.exit(2);
}

const env = process.env;
const stateDir = env[LOG_AGENT_STATE_DIR_ENV] ?? fail(`${LOG_AGENT_STATE_DIR_ENV} is not set`);
let config: LogAgentConfig;
try {
  config = JSON.parse(env[LOG_AGENT_CONFIG_ENV] ?? '') as LogAgentConfig;
} catch (err) {
  fail(`${LOG_AGENT_CONFIG_ENV} is not valid JSON: ${(err as Error).message}`);
}
const identity = {
  app: env.BERTH_APP ?? '',
  service: env.BERTH_SERVICE ?? '',
  variant: env.BERTH_VARIANT ?? 'default',
  revision: env.BERTH_REVISION ?? '',
  instance: env.BERTH_INSTANCE ?? fail('BERTH_INSTANCE is not set'),
  node: env.BERTH_NODE ?? '',
};
config.captureDir ??= join(stateDir, 'logs', identity.service, identity.instance);
const workDir = join(stateDir, 'logs-agent', identity.instance);
const statusMs = Number(env.BERTH_LOGS_STATUS_MS) || undefined;
const agent = startLogAgent({
  config,
  identity,
  stateDir,
  workDir,
  statusMs,
  log: (m) => process.stderr.write(`berth-logs: ${m}\n`),
  // Checkpoints never pass the failed batch: exiting lets the node agent restart this agent, which
  // reads again from there.
  onFatal: () => void agent.stop(1000).finally(() => process.exit(1)),
});
process.stderr.write(`berth-logs: collecting for ${identity.service}/${identity.instance} (pid ${process.pid})\n`);

let stopping = false;
const stop = (): void => {
  if (stopping) return;
  stopping = true;
  void agent.stop(3000).then(() => process.exit(0));
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
