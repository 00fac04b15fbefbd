// embedded sink (the default): ships batches to the control plane's log store over its API
// (`POST /api/v1/logs`, acknowledged after the store committed). The control plane's port changes
// when it restarts, so control.json and the token are re-read from the state dir after any failure;
// while it is down, send() rejects as retryable and the pipeline holds its position.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { sidecarBearer } from '../../../lib/sidecar-credential.js';
import { recordJson } from '../enrich.js';
import type { LogRecord } from '../record.js';
import { encodeAll, TextBodyEncoder } from './encode.js';
import { post } from './http-post.js';
import { SinkError, type EncodedBatch, type EncodedBody, type LogSink, type RecordEncoder, type SinkFeature } from './sink.js';

export class EmbeddedStoreSink implements LogSink {
  readonly type = 'embedded';
  readonly features: readonly SinkFeature[] = ['ack', 'batch', 'dedup', 'fields', 'retry-after'];
  private target: { url: string; token: string } | undefined;

  constructor(
    readonly name: string,
    private readonly stateDir: string,
  ) {}

  private resolveTarget(): { url: string; token: string } {
    if (this.target) return this.target;
    let port: number;
    let token: string;
    try {
      port = (JSON.parse(readFileSync(join(this.stateDir, 'control.json'), 'utf8')) as { port: number }).port;
      token = sidecarBearer(join(this.stateDir, 'token')) ?? ''; // its instance's scoped credential (lib/sidecar-credential.ts)
    } catch {
      throw new SinkError('control plane not running (no control.json)', true);
    }
    this.target = { url: `http://127.0.0.1:${port}/api/v1/logs`, token };
    return this.target;
  }

  send(records: readonly LogRecord[]): Promise<void> {
    return this.sendEncoded(this.encode(records));
  }

  encode(records: readonly LogRecord[]): EncodedBatch {
    return encodeAll(this.encoder(), records);
  }

  encoder(): RecordEncoder {
    return new TextBodyEncoder('{"records":[', ']}', ',', recordJson);
  }

  async sendEncoded(batch: EncodedBatch): Promise<void> {
    const t = this.resolveTarget();
    const body = (batch as EncodedBody).body;
    try {
      await post({ url: t.url, contentType: 'application/json', headers: { authorization: `Bearer ${t.token}` }, timeoutMs: 30_000 }, body);
    } catch (err) {
      this.target = undefined; // the control plane may have moved: re-read control.json next time
      throw err;
    }
  }

  async close(): Promise<void> {}
}
