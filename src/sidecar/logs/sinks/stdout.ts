// stdout sink: one JSON record per line on the agent's own stdout (acknowledged once written).
import { JsonLinesSink } from './encode.js';
import type { EncodedBatch, EncodedBody, LogSink, SinkFeature } from './sink.js';

export class StdoutSink extends JsonLinesSink implements LogSink {
  readonly type = 'stdout';
  readonly features: readonly SinkFeature[] = ['batch', 'fields'];

  constructor(
    readonly name = 'stdout',
    private readonly out: NodeJS.WritableStream = process.stdout,
  ) {
    super();
  }

  sendEncoded(batch: EncodedBatch): Promise<void> {
    return new Promise((resolve, reject) => {
      this.out.write((batch as EncodedBody).body, (err) => (err ? reject(err) : resolve()));
    });
  }

  async close(): Promise<void> {}
}
