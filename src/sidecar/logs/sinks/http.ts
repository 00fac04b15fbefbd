// http sink: batches pushed as `json` (an array of records), `loki` (push API JSON) or
// `elasticsearch` (_bulk NDJSON; per-item 429/5xx are retried, the record id makes retries idempotent).
import type { LogRecord } from '../record.js';
import { elasticBulk, encodeAll, jsonArrayEncoder, lokiPush, TextBodyEncoder } from './encode.js';
import { post } from './http-post.js';
import { SinkError, type EncodedBatch, type EncodedBody, type LogSink, type RecordEncoder, type SinkFeature } from './sink.js';

export interface HttpSinkOptions {
  url: string;
  format: 'json' | 'loki' | 'elasticsearch';
  index?: string;
  gzip?: boolean;
  headers?: Record<string, string>;
  timeoutMs?: number;
}

export class HttpSink implements LogSink {
  readonly type = 'http';
  readonly features: readonly SinkFeature[];

  constructor(
    readonly name: string,
    private readonly opts: HttpSinkOptions,
  ) {
    this.features = opts.format === 'elasticsearch' ? ['ack', 'batch', 'gzip', 'headers', 'retry-after', 'dedup', 'fields'] : opts.format === 'json' ? ['ack', 'batch', 'gzip', 'headers', 'retry-after', 'fields'] : ['ack', 'batch', 'gzip', 'headers', 'retry-after'];
  }

  send(records: readonly LogRecord[]): Promise<void> {
    return this.sendEncoded(this.encode(records));
  }

  encode(records: readonly LogRecord[]): EncodedBatch {
    const e = this.encoder();
    if (e) return encodeAll(e, records);
    return { count: records.length, body: Buffer.from(lokiPush(records)) } as EncodedBody;
  }

  /** json and elasticsearch bodies are built record by record (loki groups them: encode() at the end). */
  encoder(): RecordEncoder | undefined {
    if (this.opts.format === 'json') return jsonArrayEncoder();
    if (this.opts.format === 'elasticsearch') {
      const index = this.opts.index ?? 'berth-logs';
      return new TextBodyEncoder('', '', '', (r) => elasticBulk([r], index));
    }
    return undefined;
  }

  async sendEncoded(batch: EncodedBatch): Promise<void> {
    const { body } = batch as EncodedBody;
    const o = { url: this.opts.url, gzip: this.opts.gzip, headers: this.opts.headers, timeoutMs: this.opts.timeoutMs };
    if (this.opts.format !== 'elasticsearch') {
      await post({ ...o, contentType: 'application/json' }, body);
      return;
    }
    const reply = await post({ ...o, contentType: 'application/x-ndjson' }, body);
    let parsed: { errors?: boolean; items?: { index?: { status?: number; error?: unknown } }[] };
    try {
      parsed = JSON.parse(reply) as typeof parsed;
    } catch {
      throw new SinkError('elasticsearch: reply is not JSON', true);
    }
    if (!parsed.errors) return;
    const statuses = (parsed.items ?? []).map((i) => i.index?.status ?? 0).filter((s) => s >= 300);
    if (statuses.some((s) => s === 429 || s >= 500)) throw new SinkError(`elasticsearch: ${statuses.length} items failed (retrying)`, true);
    throw new SinkError(`elasticsearch rejected ${statuses.length} documents (status ${statuses[0]})`, false);
  }

  async close(): Promise<void> {}
}
