// The one interface every log sink implements, with a declared features list (as Dapr's
// components-contrib does). `send` resolves only once the destination has acknowledged the whole
// batch; it rejects with SinkError to say whether (and when) a retry makes sense.
import type { LogRecord } from '../record.js';

/**
 * What a sink claims, checked by the shared conformance suite:
 * - `ack`: send() resolves only after the destination accepted the records (a failing destination rejects);
 * - `batch`: many records travel in one request;
 * - `gzip`, `headers`: request compression and custom headers (HTTP sinks);
 * - `retry-after`: rejections carry the destination's Retry-After;
 * - `dedup`: the destination ignores a record whose `id` it already holds;
 * - `fields`: structured fields (level, parsed fields, identity) survive end to end.
 */
export type SinkFeature = 'ack' | 'batch' | 'gzip' | 'headers' | 'retry-after' | 'dedup' | 'fields';

export interface LogSink {
  readonly name: string;
  readonly type: string;
  readonly features: readonly SinkFeature[];
  send(records: readonly LogRecord[]): Promise<void>;
  /**
   * Optional pair: `encode` turns a batch into what goes on the wire as soon as it is handed over (so
   * its records need not be kept until acknowledged), `sendEncoded` sends that (with the same
   * acknowledgement rules as `send`; it may be called again for a retry). `send(r)` must equal
   * `sendEncoded(encode(r))`.
   */
  encode?(records: readonly LogRecord[]): EncodedBatch;
  sendEncoded?(batch: EncodedBatch): Promise<void>;
  /**
   * Optional streaming form of `encode` (records are added one by one and can be dropped right away);
   * undefined when this sink (as configured) needs the whole batch at once.
   */
  encoder?(): RecordEncoder | undefined;
  close(): Promise<void>;
}

export interface RecordEncoder {
  add(record: LogRecord): void;
  /** The batch of everything added (the same as `encode` of those records). */
  finish(): EncodedBatch;
}

/** A batch in a sink's wire form (each sink adds what it needs). */
export interface EncodedBatch {
  /** Records it holds. */
  readonly count: number;
  /**
   * Called once the batch is done with (acknowledged, or given up): its memory may be reused. Only
   * after sendEncoded() resolved or rejected, never while a send is under way.
   */
  release?(): void;
}

/** The usual wire form: one body. */
export interface EncodedBody extends EncodedBatch {
  readonly body: Buffer;
}

export class SinkError extends Error {
  constructor(
    message: string,
    /** False for errors a retry cannot fix (e.g. 400): the batch is dropped and counted. */
    readonly retryable: boolean,
    /** The destination asked to wait this long (429/503 Retry-After). */
    readonly retryAfterMs?: number,
  ) {
    super(message);
  }
}

/** Parses a Retry-After header (seconds or an HTTP date) into milliseconds. */
export function parseRetryAfter(v: string | string[] | undefined | null): number | undefined {
  if (v === undefined || v === null) return undefined;
  const s = Array.isArray(v) ? v[0] : v;
  if (/^\s*\d+(\.\d+)?\s*$/.test(s)) return Math.round(Number(s) * 1000);
  const t = Date.parse(s);
  return Number.isNaN(t) ? undefined : Math.max(0, t - Date.now());
}

/** Classifies an HTTP status: 2xx ok, 408/429/5xx retryable, other 4xx permanent. */
export function httpStatusError(status: number, body: string, retryAfter: string | string[] | undefined | null): SinkError | undefined {
  if (status >= 200 && status < 300) return undefined;
  const retryable = status === 408 || status === 429 || status >= 500;
  return new SinkError(`HTTP ${status}: ${body.slice(0, 200)}`, retryable, parseRetryAfter(retryAfter));
}
