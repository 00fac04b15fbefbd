// Layout of `.berth/`, the local runtime's state beside the spec. One place for every path.
import { join } from 'node:path';

export const stateLayout = (stateDir: string) => ({
  root: stateDir,
  token: join(stateDir, 'token'),
  /** The dashboard's login token (0600): `berth dashboard` puts it in the URL it prints. */
  dashboardToken: join(stateDir, 'dashboard-token'),
  db: join(stateDir, 'state.db'),
  /** The control plane's copy of its last good state (at start, every minute when changed, at exit). */
  dbBackup: join(stateDir, 'state.db.backup'),
  controlInfo: join(stateDir, 'control.json'),
  controlPid: join(stateDir, 'control.pid'),
  /** The API's last port: a restarted control plane takes it again when free (an open dashboard keeps working). */
  controlPort: join(stateDir, 'control.port'),
  controlLog: join(stateDir, 'control.log'),
  /** The desired state last applied (written by the control plane, 0600): what `berth diff` compares with while none runs. */
  lastApplied: join(stateDir, 'last-applied.json'),
  slot: join(stateDir, 'slot'),
  logs: join(stateDir, 'logs'),
  nodeDir: (node: string) => join(stateDir, 'nodes', node),
  instanceLogDir: (service: string, instance: string) => join(stateDir, 'logs', service, instance),
  /** Persistent volumes (`services.<s>.volumes`): app data, kept across `berth down`; its modes are the app's, not Berth's. */
  volumes: join(stateDir, VOLUMES_DIR),
  volumeDir: (service: string, volume: string) => join(stateDir, VOLUMES_DIR, service, volume),
});

/** The folder of `.berth/` that holds the apps' persistent volumes. */
export const VOLUMES_DIR = 'volumes';

/** Written by the control plane at start-up: how to reach it. */
export interface ControlInfo {
  pid: number;
  startTime: number;
  port: number;
  app: string;
}

/** Starts the control plane's last line in control.log when it cannot start for a reason the user must act on (`berth up` prints that line). */
export const FATAL_PREFIX = 'berth-control: fatal: ';

/** `.berth/last-applied.json`: the desired state the control plane last accepted, and when. */
export interface LastApplied<T> {
  at: string;
  desired: T;
}
