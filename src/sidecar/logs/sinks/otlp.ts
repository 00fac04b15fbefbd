// otlp sink: OpenTelemetry logs over OTLP/HTTP with the JSON encoding (POST …/v1/logs).
import type { LogRecord } from '../record.js';
import { otlpLogs } from './encode.js';
import { post } from './http-post.js';
import type { EncodedBatch, EncodedBody, LogSink, SinkFeature } from './sink.js';

export interface OtlpSinkOptions {
  url: string;
  gzip?: boolean;
  headers?: Record<string, string>;
  timeoutMs?: number;
}

export class OtlpSink implements LogSink {
  readonly type = 'otlp';
  readonly features: readonly SinkFeature[] = ['ack', 'batch', 'gzip', 'headers', 'retry-after', 'fields'];

  constructor(
    readonly name: string,
    private readonly opts: OtlpSinkOptions,
  ) {}

  send(records: readonly LogRecord[]): Promise<void> {
    return this.sendEncoded(this.encode(records));
  }

  encode(records: readonly LogRecord[]): EncodedBody {
    return { count: records.length, body: Buffer.from(otlpLogs(records)) };
  }

  async sendEncoded(batch: EncodedBatch): Promise<void> {
    await post({ url: this.opts.url, gzip: this.opts.gzip, headers: this.opts.headers, timeoutMs: this.opts.timeoutMs, contentType: 'application/json' }, (batch as EncodedBody).body);
  }

  async close(): Promise<void> {}
}
