// stdout sink: one JSON record per line on the agent's own stdout (acknowledged once written).
import type { LogRecord } from '../record.js';
import { encodeAll, jsonLinesEncoder } from './encode.js';
import type { EncodedBatch, EncodedBody, LogSink, RecordEncoder, SinkFeature } from './sink.js';

export class StdoutSink implements LogSink {
  readonly type = 'stdout';
  readonly features: readonly SinkFeature[] = ['batch', 'fields'];

  constructor(
    readonly name = 'stdout',
    private readonly out: NodeJS.WritableStream = process.stdout,
  ) {}

  send(records: readonly LogRecord[]): Promise<void> {
    return this.sendEncoded(this.encode(records));
  }

  encode(records: readonly LogRecord[]): EncodedBatch {
    return encodeAll(jsonLinesEncoder(), records);
  }

  encoder(): RecordEncoder {
    return jsonLinesEncoder();
  }

  sendEncoded(batch: EncodedBatch): Promise<void> {
    return new Promise((resolve, reject) => {
      this.out.write((batch as EncodedBody).body, (err) => (err ? reject(err) : resolve()));
    });
  }

  async close(): Promise<void> {}
}
