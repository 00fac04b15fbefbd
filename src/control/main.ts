// Entry point of the control-plane process (started detached by `berth up`):
//   node dist/src/control/main.js --state-dir DIR [--file SPEC] [--env E]
// Writes control.json/control.pid once its API listens; exits after `berth down` completes.
import { parseArgs } from 'node:util';
import { rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { readToken, writeFileAtomic } from '../lib/files.js';
import { readDownEpoch } from '../lib/down-epoch.js';
import { ensureToken } from '../lib/token.js';
import { acquireProcessLock, controlLockName } from '../lib/process-lock.js';
import { PRIVATE_UMASK, securePrivateTree } from '../lib/private-dir.js';
import { selfStartTime } from '../lib/proc.js';
import { stateLayout, type ControlInfo } from '../lib/state-dir.js';
import { createApiServer } from './api.js';
import { ControlPlane } from './control-plane.js';
import { StateCorruptError } from './store.js';
import { timeStoreWrites } from './store-timing.js';
import { FATAL_PREFIX } from '../lib/state-dir.js';

const { values } = parseArgs({ options: { 'state-dir': { type: 'string' } } });
const stateDir = resolve(values['state-dir'] ?? '.berth');
const layout = stateLayout(stateDir);
// Everything this process and its children (node agents, sidecars) create under .berth/ is private
// to the owner; what an earlier version left readable is tightened before anything is opened.
process.umask(PRIVATE_UMASK);
securePrivateTree(stateDir);
const log = (m: string) => console.log(`${new Date().toISOString()} ${m}`);
/** The `berth down` epoch of the `up` that started this process; kept out of the agents' and instances' environment. */
const upEpoch = process.env.BERTH_DOWN_EPOCH;
delete process.env.BERTH_DOWN_EPOCH;

// One control plane per state dir: the lock is held for this process's life and freed by its death.
if (!(await acquireProcessLock(controlLockName(stateDir)))) {
  console.error(`another control plane is already running for ${stateDir}`);
  process.exit(1);
}
rmSync(join(stateDir, 'control.lock'), { force: true }); // the socket file older versions locked with
const token = ensureToken(layout.token);

let plane: ControlPlane;
try {
  plane = new ControlPlane({ stateDir, token, log, resyncMs: Number(process.env.BERTH_RESYNC_MS ?? 5000), nodeGraceMs: Number(process.env.BERTH_NODE_GRACE_MS ?? 2000), nodeSlowAgentMs: Number(process.env.BERTH_NODE_SLOW_MS ?? 10_000), autoscaleIntervalMs: Number(process.env.BERTH_AUTOSCALE_MS ?? 1000),
    pressureThreshold: Number(process.env.BERTH_PRESSURE_THRESHOLD ?? 0.9),
    pressureWindowMs: Number(process.env.BERTH_PRESSURE_WINDOW_MS ?? 10_000) });
} catch (err) {
  // A damaged state.db is a user-recoverable condition: one line saying what and how (`berth up` shows it), no stack.
  if (!(err instanceof StateCorruptError)) throw err;
  console.error(`${FATAL_PREFIX}${err.message}`);
  process.exit(1);
}

timeStoreWrites(plane.store);

let exiting = false;
function exit(code: number): void {
  if (exiting) return;
  exiting = true;
  try {
    rmSync(layout.controlInfo, { force: true });
    rmSync(layout.controlPid, { force: true });
  } catch {
    // best effort on the way out: stale files are detected by the next start
  }
  plane.close();
  log('control plane exiting');
  process.exit(code);
}

const dashboardToken = ensureToken(layout.dashboardToken);
const server = createApiServer({ plane, token, dashboardToken, onDown: () => setTimeout(() => exit(0), 50) });
/** Listens on `port` (0: any free one); rejects when it is taken. */
function listen(port: number): Promise<void> {
  return new Promise((ok, fail) => {
    const onError = (err: Error) => {
      server.off('listening', onListening);
      fail(err);
    };
    const onListening = () => {
      server.off('error', onError);
      ok();
    };
    server.once('error', onError);
    server.once('listening', onListening);
    server.listen(port, '127.0.0.1');
  });
}

// The port of the previous control plane of this state dir when it is free: an open dashboard (and its
// login cookie, which is per port) keeps working across a control-plane restart.
const lastPort = Number(readToken(layout.controlPort) ?? 0);
await listen(Number.isInteger(lastPort) && lastPort > 0 && lastPort < 65536 ? lastPort : 0).catch(() => listen(0));
void (async () => {
  try {
    await plane.start();
  } catch (err) {
    log(`start-up failed: ${(err as Error).message}`);
    exit(1);
    return;
  }
  // Started by a `berth up` that a `berth down` overtook while this process was starting: stop again
  // instead of announcing itself (see lib/down-epoch.ts).
  if (upEpoch !== undefined && upEpoch !== readDownEpoch(stateDir)) {
    log('`berth down` ran while this control plane was starting: stopping');
    plane.down(() => exit(0));
    return;
  }
  const addr = server.address();
  const port = typeof addr === 'object' && addr ? addr.port : 0;
  const info: ControlInfo = { pid: process.pid, startTime: selfStartTime(), port, app: plane.status().app ?? '' };
  writeFileAtomic(layout.controlInfo, JSON.stringify(info) + '\n');
  writeFileAtomic(layout.controlPort, `${port}\n`);
  writeFileAtomic(layout.controlPid, `${process.pid}\n`);
  plane.announced();
  log(`control plane listening on 127.0.0.1:${port}`);
})();

// A SIGTERM/SIGINT stops only the control plane: node agents keep the instances running.
process.on('SIGTERM', () => exit(0));
process.on('SIGINT', () => exit(0));
