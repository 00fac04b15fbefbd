// blackhole sink: acknowledges and counts (benchmarks and tests of the pipeline alone).
import type { LogRecord } from '../record.js';
import type { LogSink, SinkFeature } from './sink.js';

export class BlackholeSink implements LogSink {
  readonly type = 'blackhole';
  readonly features: readonly SinkFeature[] = ['batch'];
  records = 0;
  bytes = 0;

  constructor(readonly name = 'blackhole') {}

  async send(records: readonly LogRecord[]): Promise<void> {
    this.records += records.length;
    for (const r of records) this.bytes += r.message.length;
  }

  async close(): Promise<void> {}
}
