// stdout sink: one JSON record per line on the agent's own stdout (acknowledged once written).
import type { LogRecord } from '../record.js';
import type { LogSink, SinkFeature } from './sink.js';

export class StdoutSink implements LogSink {
  readonly type = 'stdout';
  readonly features: readonly SinkFeature[] = ['batch', 'fields'];

  constructor(
    readonly name = 'stdout',
    private readonly out: NodeJS.WritableStream = process.stdout,
  ) {}

  send(records: readonly LogRecord[]): Promise<void> {
    let text = '';
    for (const r of records) text += JSON.stringify(r) + '\n';
    return new Promise((resolve, reject) => {
      this.out.write(text, (err) => (err ? reject(err) : resolve()));
    });
  }

  async close(): Promise<void> {}
}
