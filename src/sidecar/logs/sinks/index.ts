// Builds a LogSink from its configuration: the one place that lists every sink type.
import type { LogSinkConfig } from '../../../lib/log-agent-config.js';
import { BlackholeSink } from './blackhole.js';
import { EmbeddedStoreSink } from './embedded.js';
import { FileSink } from './file.js';
import { HttpSink } from './http.js';
import { OtlpSink } from './otlp.js';
import type { LogSink } from './sink.js';
import { StdoutSink } from './stdout.js';
import { SyslogSink } from './syslog.js';

export interface SinkContext {
  stateDir: string;
  cwd: string;
  hostname: string;
}

export function createSink(cfg: LogSinkConfig, ctx: SinkContext): LogSink {
  const name = cfg.name ?? cfg.type;
  switch (cfg.type) {
    case 'embedded':
      return new EmbeddedStoreSink(name, ctx.stateDir);
    case 'stdout':
      return new StdoutSink(name);
    case 'blackhole':
      return new BlackholeSink(name);
    case 'file':
      return new FileSink(name, { path: resolvePath(ctx.cwd, cfg.path ?? 'berth-logs.jsonl'), maxBytes: cfg.maxBytes, keep: cfg.keep });
    case 'http':
      return new HttpSink(name, { url: cfg.url ?? '', format: cfg.format ?? 'json', index: cfg.index, gzip: cfg.gzip, headers: cfg.headers, timeoutMs: cfg.timeoutMs });
    case 'otlp':
      return new OtlpSink(name, { url: cfg.url ?? '', gzip: cfg.gzip, headers: cfg.headers, timeoutMs: cfg.timeoutMs });
    case 'syslog':
      return new SyslogSink(name, { host: cfg.host ?? '127.0.0.1', port: cfg.port ?? 514, protocol: cfg.protocol ?? 'tcp', facility: cfg.facility ?? 1, hostname: ctx.hostname, sdId: cfg.structuredDataId });
  }
}

function resolvePath(cwd: string, p: string): string {
  return p.startsWith('/') ? p : `${cwd}/${p}`;
}

export type { LogSink, SinkFeature } from './sink.js';
export { SinkError } from './sink.js';
export { BlackholeSink, EmbeddedStoreSink, FileSink, HttpSink, OtlpSink, StdoutSink, SyslogSink };
