// One log record as it flows from a source through parsing and enrichment to the sinks, plus the
// level names and their order (for routing and `--level`).
import type { LogLevelName } from '../../lib/log-agent-config.js';

export type { LogLevelName };
export type LogStreamName = 'stdout' | 'stderr' | 'file';

export const LEVEL_ORDER: Record<LogLevelName, number> = { trace: 0, debug: 1, info: 2, warn: 3, error: 4, fatal: 5 };

export interface LogRecord {
  /** Stable across re-reads (source fingerprint + end offset): sinks that can, de-duplicate on it. */
  id: string;
  /** RFC 3339 timestamp: parsed from the line, else the capture time, else the read time. */
  time: string;
  message: string;
  level?: LogLevelName;
  stream: LogStreamName;
  /** The file the line was read from. */
  file: string;
  /** The process of the instance group that wrote it (capture files), or "app" for `logs.files`. */
  process: string;
  app: string;
  service: string;
  variant: string;
  revision: string;
  instance: string;
  node: string;
  /** Fields from a parser (json, logfmt, regex), without the ones lifted into the record. */
  fields?: Record<string, unknown>;
  /** The line was longer than maxLineBytes: the rest was dropped (and counted). */
  truncated?: boolean;
  /** The original bytes, base64, when the line was not valid UTF-8 (message holds a lossy decoding). */
  rawBase64?: string;
}

/** Normalises level spellings (WARNING, err, pino numbers…) to the six names; undefined when unknown. */
export function normalizeLevel(v: unknown): LogLevelName | undefined {
  if (typeof v === 'number') {
    if (v >= 60) return 'fatal';
    if (v >= 50) return 'error';
    if (v >= 40) return 'warn';
    if (v >= 30) return 'info';
    if (v >= 20) return 'debug';
    return 'trace';
  }
  if (typeof v !== 'string') return undefined;
  switch (v.toLowerCase()) {
    case 'trace':
    case 'trc':
      return 'trace';
    case 'debug':
    case 'dbg':
      return 'debug';
    case 'info':
    case 'inf':
    case 'information':
    case 'notice':
      return 'info';
    case 'warn':
    case 'warning':
    case 'wrn':
      return 'warn';
    case 'error':
    case 'err':
    case 'erro':
      return 'error';
    case 'fatal':
    case 'crit':
    case 'critical':
    case 'panic':
    case 'emerg':
    case 'alert':
      return 'fatal';
    default:
      return undefined;
  }
}
