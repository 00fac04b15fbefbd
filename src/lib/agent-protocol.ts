// The wire contract between the control plane (which decides) and a node agent (which does).
// Both sides import these types; neither imports the other. JSON over HTTP on 127.0.0.1,
// bearer token from `.berth/token`.
//
// Agent HTTP API (all under the agent's own port, written to `<stateDir>/nodes/<node>/agent.json`):
//   GET  /healthz                 → AgentHealth
//   PUT  /desired   AgentDesired  → { generation }   level-triggered: the full desired set, every time
//   GET  /instances               → InstanceObserved[] (every instance the agent holds, incl. stopping)
//   GET  /events?after=SEQ        → AgentEvent[] (seq > SEQ, oldest first; ring buffer)
//   GET  /watch                   → text/event-stream; `event: change` whenever observed state or events change
//   POST /shutdown                → 202; stops every instance gracefully, then the agent exits
//   POST /sidecars/restart {name, service?} → { restarted: [{instance, pid}] }; only those sidecars restart

/** One probe handler; exactly one of the fields is set. Ports are already resolved to numbers. */
export interface ProbeHandler {
  http?: { path: string; port: number; scheme: 'http' | 'https'; headers: { name: string; value: string }[] };
  tcp?: { port: number };
  exec?: { command: string[] };
  grpc?: { port: number; service?: string };
}

/** A probe with Kubernetes field names and meaning (seconds may be fractional). */
export interface ProbeConfig {
  handler: ProbeHandler;
  initialDelaySeconds: number;
  periodSeconds: number;
  timeoutSeconds: number;
  successThreshold: number;
  failureThreshold: number;
}

/** One process of an instance group (the app or one sidecar). `env` is complete except for the agent's own environment, which is inherited underneath it. */
export interface ProcessTemplate {
  name: string;
  argv: string[];
  cwd: string;
  env: Record<string, string>;
  /** Memory limit of this process's group (sidecars; the app's limit is InstanceSpec.memoryMiB): exceeding it restarts the process (OOMKilled). */
  memoryMiB?: number;
  /** Sidecars that carry the instance's traffic (the mesh proxy): the instance is ready only while this sidecar accepts TCP connections on HOST:listenPort. */
  listenPort?: number;
  /** OS user to run as (a name or uid[:gid], lib/users.ts); absent: the agent's own user. Platform sidecars never have one. */
  user?: string;
  /** Secrets the app gets as files (node/secret-files.ts): the agent writes each and sets `env` to its path. */
  secretFiles?: SecretFile[];
}

/** One secret given to an app as a file. */
export interface SecretFile {
  /** The secret's name (its file name). */
  name: string;
  /** The variable that holds the file's path, BERTH_SECRET_FILE_<NAME>. */
  env: string;
  content: string;
}

export interface RestartConfig {
  policy: 'always' | 'on-failure' | 'never';
  initialSeconds: number;
  maxSeconds: number;
  resetAfterSeconds: number;
}

/** Everything the agent needs to run one instance. Same `id` + same `revision` = same instance (never restarted by a re-send). */
export interface InstanceSpec {
  id: string;
  app: string;
  service: string;
  revision: string;
  node: string;
  /** The instance's own loopback address (127.N.x.y); the app listens on host:port. */
  host: string;
  port?: number;
  main: ProcessTemplate;
  sidecars: ProcessTemplate[];
  probes: { startup?: ProbeConfig; readiness?: ProbeConfig; liveness?: ProbeConfig };
  restart: RestartConfig;
  /** Memory limit for the app's process group; exceeding it kills the app with reason OOMKilled. */
  memoryMiB?: number;
  stopGracePeriodSeconds: number;
  /** Directory for this instance's capture files: `<logDir>/<process name>.log` (CRI log format). */
  logDir: string;
}

/** A service address the agent forwards (kube-proxy style, round-robin TCP) to its ready local instances of that service. */
export interface ServiceForward {
  name: string;
  host: string;
  port: number;
  /** Ready instances of the service on other nodes (as the control plane last saw them), used beside the local ones. */
  remoteEndpoints?: { id: string; host: string; port: number }[];
}

/** Sent by each node agent to the control plane every heartbeat period: POST /api/v1/nodes/<node>/heartbeat. */
export interface NodeHeartbeat {
  node: string;
  pid: number;
  startTime: number;
  /** Resource use of every process the agent supervises, measured over the last period. */
  usage: { cpuMillis: number; memoryMiB: number };
  instances: number;
  /** The app process of each instance alone, by instance id: the autoscaler's resource metrics (relative to the app's resources). */
  instanceUsage?: Record<string, { cpuMillis: number; memoryMiB: number }>;
  /** Each sidecar process alone: instance id → sidecar name → usage (`berth stats`). */
  sidecarUsage?: Record<string, Record<string, { cpuMillis: number; memoryMiB: number }>>;
}

export interface AgentDesired {
  generation: number;
  instances: InstanceSpec[];
  services: ServiceForward[];
}

export type InstanceStatus = 'pending' | 'starting' | 'ready' | 'unready' | 'crashloop' | 'stopping' | 'stopped';

export interface ProcessExit {
  code: number | null;
  signal: string | null;
  /** Completed, Error, OOMKilled, Unhealthy (liveness/startup), Killed (stopped by Berth). */
  reason: string;
  at: string;
  /** Extra detail, e.g. why a spawn failed (optional; added by the node agent). */
  message?: string;
}

export interface ProcessObserved {
  name: string;
  pid?: number;
  /** Field 22 of /proc/PID/stat: guards against PID reuse. */
  startTime?: number;
  state: 'running' | 'waiting' | 'exited';
  restarts: number;
  startedAt?: string;
  lastExit?: ProcessExit;
}

export interface InstanceObserved {
  id: string;
  service: string;
  revision: string;
  status: InstanceStatus;
  ready: boolean;
  /** Restarts of the app process (not of sidecars). */
  restarts: number;
  /** The app's PID while it runs. */
  pid?: number;
  startedAt?: string;
  host: string;
  port?: number;
  /** The app's private PORT, unique on the machine (allocated by the node agent; HOST:port forwards to it). */
  appPort?: number;
  main: ProcessObserved;
  sidecars: ProcessObserved[];
  /** Human-readable reason for the current status (e.g. "back-off 1.6s restarting failed app"). */
  message?: string;
}

export interface AgentEvent {
  seq: number;
  at: string;
  type: 'Normal' | 'Warning';
  /** Started, Ready, Unready, Unhealthy, Killing, BackOff, OOMKilled, Exited, SidecarRestarted, PortInUse… */
  reason: string;
  message: string;
  node: string;
  service?: string;
  instance?: string;
}

export interface AgentHealth {
  node: string;
  pid: number;
  startTime: number;
  generation: number;
}

/** Written by the agent at start-up, next to its other files: how to reach it. */
export interface AgentInfo {
  node: string;
  pid: number;
  startTime: number;
  port: number;
}
