// The log agent (`berth-logs`): public surface for the CLI, tests and benchmarks.
export { startLogAgent, type LogAgentOptions, type RunningLogAgent } from './agent.js';
export type { LogRecord, LogLevelName, LogStreamName } from './record.js';
export { LEVEL_ORDER, normalizeLevel } from './record.js';
export { createSink, type LogSink, type SinkFeature, SinkError } from './sinks/index.js';
export { BlackholeSink, EmbeddedStoreSink, FileSink, HttpSink, OtlpSink, StdoutSink, SyslogSink } from './sinks/index.js';
export { parseCri } from './cri.js';
export { parseJsonLine, parseLogfmt, regexParser } from './parsers.js';
export { MultilineJoiner } from './multiline.js';
export { BoundedLineSplitter } from './line-splitter.js';
export { Tailer } from './tailer.js';
export { CheckpointStore } from './checkpoints.js';
export { DiskBuffer } from './disk-buffer.js';
export { Delivery } from './delivery.js';
export { RecordBuilder } from './enrich.js';
export { retryDelayMs } from './retry.js';
export { lokiPush, elasticBulk, otlpLogs, syslog5424, timeNs } from './sinks/encode.js';
/** Path of the agent's process entry (spawned, never imported). */
export const logAgentMain = new URL('./main.js', import.meta.url);
export { compileRoute } from './route.js';
