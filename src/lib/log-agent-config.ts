// The wire contract between the plan (which builds the log agent sidecar of each instance group) and
// the log agent `berth-logs` (src/sidecar/logs): its configuration, passed as JSON in the
// BERTH_LOGS_CONFIG environment variable. Neither side imports the other.

export const LOG_AGENT_CONFIG_ENV = 'BERTH_LOGS_CONFIG';
/** Absolute path of `.berth/`: the agent reads control.json and token there on every (re)connect. */
export const LOG_AGENT_STATE_DIR_ENV = 'BERTH_STATE_DIR';
/** Name of the log agent sidecar in every instance group. */
export const LOG_AGENT_SIDECAR_NAME = 'logs';

export type LogLevelName = 'trace' | 'debug' | 'info' | 'warn' | 'error' | 'fatal';

export interface LogRouteConfig {
  levels?: LogLevelName[];
  minLevel?: LogLevelName;
  streams?: ('stdout' | 'stderr' | 'file')[];
  services?: string[];
}

export interface LogSinkConfig {
  type: 'embedded' | 'stdout' | 'file' | 'http' | 'otlp' | 'syslog' | 'blackhole';
  name?: string;
  route?: LogRouteConfig;
  // file
  path?: string;
  maxBytes?: number;
  keep?: number;
  // http / otlp
  url?: string;
  format?: 'json' | 'loki' | 'elasticsearch';
  index?: string;
  gzip?: boolean;
  headers?: Record<string, string>;
  batchMaxRecords?: number;
  timeoutMs?: number;
  // syslog
  host?: string;
  port?: number;
  protocol?: 'tcp' | 'udp';
  facility?: number;
  /** SD-ID (`name@<private enterprise number>`) of the element carrying app, instance, revision, id, level. */
  structuredDataId?: string;
}

export interface LogAgentConfig {
  /** Directory whose CRI capture files (`<process>.log`, rotated) are tailed; default from BERTH_STATE_DIR + service + instance. */
  captureDir?: string;
  /** Capture files of these processes are not collected (the agent's own output). */
  excludeProcesses: string[];
  /** Globs (absolute, or relative to `cwd`). */
  files: string[];
  /** Read gzip-compressed files matched by `files` (decompressed once); otherwise compressed files are skipped. */
  decompress?: boolean;
  cwd: string;
  multiline?: { preset?: 'node' | 'java'; start?: string; timeoutMs: number };
  parsers: { type: 'json' | 'logfmt' | 'regex'; pattern?: string }[];
  maxLineBytes: number;
  /** See the spec's `logs.flushMs`; absent: the pipeline's default. */
  flushMs?: number;
  buffer: { type: 'memory' | 'disk'; maxRecords: number; maxBytes: number; whenFull: 'block' | 'drop_newest' };
  sinks: LogSinkConfig[];
}
