// Entry point of the node agent process:
//   node dist/src/node/main.js --state-dir <dir> --node <name> --token-file <file> [--log-max-bytes N] [--log-keep N]
// Runs until POST /shutdown, SIGTERM or SIGINT, each of which stops every instance gracefully and exits 0;
// also when its state dir has been deleted.
import { existsSync, readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { PRIVATE_UMASK } from '../lib/private-dir.js';
import { startAgent } from './agent.js';
import { startHeartbeat } from './heartbeat.js';
import { installCrashPolicy } from './crash-policy.js';

/** How often the agent checks that its state dir still exists. */
const STATE_DIR_CHECK_MS = Number(process.env.BERTH_STATE_DIR_CHECK_MS ?? 5000);

const USAGE = 'usage: berth-agent --state-dir <dir> --node <name> --token-file <file> [--log-max-bytes N] [--log-keep N] [--heartbeat-ms N]';

function positiveInt(value: string | undefined, name: string): number | undefined {
  if (value === undefined || value === '') return undefined;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0) {
    process.stderr.write(`berth-agent: ${name} must be a non-negative integer, got '${value}'\n${USAGE}\n`);
    process.exit(2);
  }
  return n;
}

async function main(): Promise<void> {
  process.umask(PRIVATE_UMASK); // capture logs, events, buffers under .berth/ are the owner's only (docs/security.md)
  let values;
  try {
    ({ values } = parseArgs({
      options: {
        'state-dir': { type: 'string' },
        node: { type: 'string' },
        'token-file': { type: 'string' },
        'log-max-bytes': { type: 'string' },
        'log-keep': { type: 'string' },
        'heartbeat-ms': { type: 'string' },
      },
      strict: true,
    }));
  } catch (err) {
    process.stderr.write(`berth-agent: ${(err as Error).message}\n${USAGE}\n`);
    process.exit(2);
  }
  const stateDir = values['state-dir'];
  const node = values.node;
  const tokenFile = values['token-file'];
  if (!stateDir || !node || !tokenFile) {
    process.stderr.write(`berth-agent: --state-dir, --node and --token-file are required\n${USAGE}\n`);
    process.exit(2);
  }
  let token: string;
  try {
    token = readFileSync(tokenFile, 'utf8').trim();
  } catch (err) {
    process.stderr.write(`berth-agent: cannot read token file ${tokenFile}: ${(err as Error).message}\n`);
    process.exit(1);
  }
  if (!token) {
    process.stderr.write(`berth-agent: token file ${tokenFile} is empty\n`);
    process.exit(1);
  }
  const maxBytes = positiveInt(values['log-max-bytes'] ?? process.env.BERTH_LOG_MAX_BYTES, '--log-max-bytes');
  const keep = positiveInt(values['log-keep'] ?? process.env.BERTH_LOG_KEEP, '--log-keep');

  const agent = await startAgent({
    stateDir,
    node,
    token,
    logRotation: { ...(maxBytes ? { maxBytes } : {}), ...(keep !== undefined ? { keep } : {}) },
  });
  const stopHeartbeat = startHeartbeat({
    stateDir,
    node,
    token,
    pid: process.pid,
    startTime: agent.info.startTime,
    periodMs: positiveInt(values['heartbeat-ms'] ?? process.env.BERTH_HEARTBEAT_MS, '--heartbeat-ms') || 500,
    instances: () => agent.instances(),
  });
  const stop = (): void => {
    stopHeartbeat();
    void agent.shutdown();
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
  // Node agents outlive control-plane restarts by design, but not their state dir: an app folder
  // deleted (rm -rf, a test's temp dir) would leave the agent and its apps running for ever.
  const stateDirWatch = setInterval(() => {
    if (existsSync(stateDir)) return;
    process.stderr.write(`berth-agent: state dir ${stateDir} is gone: stopping every instance and exiting\n`);
    clearInterval(stateDirWatch);
    stop();
  }, STATE_DIR_CHECK_MS);
  stateDirWatch.unref();
  process.on('SIGHUP', () => {});
  installCrashPolicy('berth-agent');
  await agent.done;
  process.exit(0);
}

main().catch((err: unknown) => {
  process.stderr.write(`berth-agent: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
