// blackhole sink: acknowledges and counts (benchmarks and tests of the pipeline alone).
import type { LogRecord } from '../record.js';
import type { EncodedBatch, LogSink, RecordEncoder, SinkFeature } from './sink.js';

interface Counted extends EncodedBatch {
  count: number;
  bytes: number;
}

export class BlackholeSink implements LogSink {
  readonly type = 'blackhole';
  readonly features: readonly SinkFeature[] = ['batch'];
  records = 0;
  bytes = 0;

  constructor(readonly name = 'blackhole') {}

  send(records: readonly LogRecord[]): Promise<void> {
    return this.sendEncoded(this.encode(records));
  }

  encode(records: readonly LogRecord[]): Counted {
    let bytes = 0;
    for (const r of records) bytes += r.message.length;
    return { count: records.length, bytes };
  }

  encoder(): RecordEncoder {
    const c: Counted = { count: 0, bytes: 0 };
    return {
      add: (r) => {
        c.count++;
        c.bytes += r.message.length;
      },
      finish: () => c,
    };
  }

  async sendEncoded(batch: EncodedBatch): Promise<void> {
    this.records += batch.count;
    this.bytes += (batch as Counted).bytes;
  }

  async close(): Promise<void> {}
}
