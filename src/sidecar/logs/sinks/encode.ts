// Wire encodings shared by the push sinks: nanosecond timestamps, Loki push JSON, Elasticsearch
// _bulk NDJSON, OTLP/HTTP JSON logs and syslog RFC 5424 messages.
import { recordFields, recordJson, toPlainRecord } from '../enrich.js';
import type { LogRecord } from '../record.js';
import type { EncodedBatch, EncodedBody, RecordEncoder } from './sink.js';

/**
 * Body buffers, reused: a batch's body lives until the batch is acknowledged, long enough for its
 * JS object to reach V8's old generation, where a dead one (and its off-heap memory) would wait for
 * a full collection. Delivery gives each body back once its batch is done (EncodedBatch.release).
 */
const pool: Buffer[] = [];
const POOL_MAX = 8;
let hint = 64 * 1024;

function acquire(min: number): Buffer {
  for (let i = pool.length - 1; i >= 0; i--) {
    if (pool[i].length >= min) {
      const b = pool[i];
      pool.splice(i, 1);
      return b;
    }
  }
  return Buffer.allocUnsafeSlow(Math.max(min, hint));
}

function giveBack(b: Buffer): void {
  if (pool.length < POOL_MAX) pool.push(b);
}

/**
 * Text gathered into one (pooled) Buffer: pending text is written out once it passes ~16 KiB, so a
 * batch never becomes one large heap string (those live in V8's large-object space until a full
 * collection), and there are no pieces to concatenate.
 */
export class BufferBuilder {
  private buf: Buffer | undefined;
  private used = 0;
  private text = '';

  add(s: string): void {
    this.text += s;
    if (this.text.length > 16 * 1024) this.spill();
  }

  private spill(): void {
    const t = this.text;
    if (t.length === 0) return;
    const worst = t.length * 3; // UTF-8 bytes per UTF-16 unit at most
    if (this.buf === undefined) this.buf = acquire(worst);
    else if (this.used + worst > this.buf.length) {
      const next = acquire(Math.max(this.buf.length * 2, this.used + worst));
      this.buf.copy(next, 0, 0, this.used);
      giveBack(this.buf);
      this.buf = next;
    }
    this.used += this.buf.write(t, this.used, 'utf8');
    this.text = '';
  }

  /** The body, and how to give its buffer back once nothing uses it any more. */
  finishPooled(): { body: Buffer; release: () => void } {
    this.spill();
    const buf = this.buf ?? Buffer.alloc(0);
    this.buf = undefined;
    hint = Math.min(64 * 1024 * 1024, Math.max(hint, Math.ceil(this.used * 1.25)));
    let released = false;
    return {
      body: buf.subarray(0, this.used),
      release: () => {
        if (released || buf.length === 0) return;
        released = true;
        giveBack(buf);
      },
    };
  }

  finish(): Buffer {
    const { body } = this.finishPooled();
    return body;
  }
}

/** Streams records into one body: `open`, each record's text (joined by `separator`), `close`. */
export class TextBodyEncoder implements RecordEncoder {
  private readonly b = new BufferBuilder();
  private count = 0;

  constructor(
    open: string,
    private readonly close: string,
    private readonly separator: string,
    private readonly text: (r: LogRecord) => string,
  ) {
    if (open) this.b.add(open);
  }

  add(r: LogRecord): void {
    this.b.add(this.count++ === 0 ? this.text(r) : this.separator + this.text(r));
  }

  finish(): EncodedBody {
    if (this.close) this.b.add(this.close);
    const { body, release } = this.b.finishPooled();
    return { count: this.count, body, release };
  }
}

const lineOf = (r: LogRecord): string => recordJson(r) + '\n';

/** A JSON array of the records (`JSON.stringify(records)`). */
export const jsonArrayEncoder = (): TextBodyEncoder => new TextBodyEncoder('[', ']', ',', recordJson);
/** One `JSON.stringify(record)` and a newline per record (file and stdout sinks). */
export const jsonLinesEncoder = (): TextBodyEncoder => new TextBodyEncoder('', '', '', lineOf);

export function encodeAll(encoder: RecordEncoder, records: readonly LogRecord[]): EncodedBatch {
  for (const r of records) encoder.add(r);
  return encoder.finish();
}

/** `JSON.stringify(records)` as a Buffer. */
export function encodeJsonArray(records: readonly LogRecord[]): Buffer {
  return (encodeAll(jsonArrayEncoder(), records) as EncodedBody).body;
}

/** Epoch nanoseconds (as a decimal string) of an RFC 3339 timestamp, keeping sub-millisecond digits. */
export function timeNs(iso: string): string {
  const ms = Date.parse(iso);
  if (Number.isNaN(ms)) return String(BigInt(Date.now()) * 1_000_000n);
  const frac = /\.(\d+)/.exec(iso)?.[1] ?? '';
  const subMs = (frac + '000000000').slice(3, 9);
  return (BigInt(Math.floor(ms)) * 1_000_000n + BigInt(subMs)).toString();
}

const LABELS = ['app', 'service', 'instance', 'stream'] as const;

/** Orders decimal nanosecond strings (no leading zeros) numerically. */
function compareNs(a: string, b: string): number {
  return a.length - b.length || (a < b ? -1 : a > b ? 1 : 0);
}

/**
 * Loki push API body: one stream per label set (app, service, instance, stream, level). Entries of a
 * stream are sorted by time (stable: equal times keep their order), since Loki rejects a stream's
 * entries older than the newest it holds, and apps may supply their own timestamps out of order.
 */
export function lokiPush(records: readonly LogRecord[]): string {
  const streams = new Map<string, { stream: Record<string, string>; values: [string, string][]; sorted: boolean }>();
  for (const r of records) {
    const labels: Record<string, string> = {};
    for (const k of LABELS) labels[k] = r[k];
    if (r.level) labels.level = r.level;
    const key = JSON.stringify(labels);
    let s = streams.get(key);
    if (!s) {
      s = { stream: labels, values: [], sorted: true };
      streams.set(key, s);
    }
    const ns = timeNs(r.time);
    const last = s.values[s.values.length - 1];
    if (last !== undefined && compareNs(last[0], ns) > 0) s.sorted = false;
    s.values.push([ns, r.message]);
  }
  const out: { stream: Record<string, string>; values: [string, string][] }[] = [];
  for (const s of streams.values()) {
    if (!s.sorted) s.values.sort((a, b) => compareNs(a[0], b[0]));
    out.push({ stream: s.stream, values: s.values });
  }
  return JSON.stringify({ streams: out });
}

/** Elasticsearch _bulk body: an index action (with the record id, so a retry does not duplicate) and the document. */
export function elasticBulk(records: readonly LogRecord[], index: string): string {
  let out = '';
  for (const r of records) {
    out += JSON.stringify({ index: { _index: index, _id: r.id } }) + '\n';
    const { time, ...rest } = toPlainRecord(r);
    out += JSON.stringify({ '@timestamp': time, ...rest }) + '\n';
  }
  return out;
}

const OTLP_SEVERITY: Record<string, number> = { trace: 1, debug: 5, info: 9, warn: 13, error: 17, fatal: 21 };

/** An OTLP AnyValue (JSON encoding: 64-bit integers as decimal strings, as proto3 JSON maps int64). */
export type OtlpValue =
  | { stringValue: string }
  | { boolValue: boolean }
  | { intValue: string }
  | { doubleValue: number }
  | { arrayValue: { values: OtlpValue[] } }
  | { kvlistValue: { values: { key: string; value: OtlpValue }[] } }
  | Record<string, never>;

/** Nesting kept as OTLP values down to this depth; deeper parts travel as JSON text. */
const OTLP_MAX_DEPTH = 16;

/** A JSON value as an OTLP AnyValue: objects become kvlistValue, arrays arrayValue, integers intValue. */
export function otlpValue(v: unknown, depth = 0): OtlpValue {
  if (typeof v === 'string') return { stringValue: v };
  if (typeof v === 'boolean') return { boolValue: v };
  if (typeof v === 'number') return Number.isSafeInteger(v) ? { intValue: String(v) } : { doubleValue: v };
  if (typeof v === 'bigint') return { intValue: v.toString() };
  if (v === null || v === undefined) return {};
  if (depth >= OTLP_MAX_DEPTH) return { stringValue: JSON.stringify(v) };
  if (Array.isArray(v)) return { arrayValue: { values: v.map((x) => otlpValue(x, depth + 1)) } };
  if (typeof v === 'object') return { kvlistValue: { values: Object.entries(v as Record<string, unknown>).map(([key, x]) => ({ key, value: otlpValue(x, depth + 1) })) } };
  return { stringValue: String(v) };
}

const attr = (key: string, v: unknown): { key: string; value: OtlpValue } => ({ key, value: otlpValue(v) });

/** OTLP/HTTP JSON ExportLogsServiceRequest: one resource per (service, instance). */
export function otlpLogs(records: readonly LogRecord[]): string {
  const resources = new Map<string, { resource: { attributes: ReturnType<typeof attr>[] }; scopeLogs: { scope: { name: string }; logRecords: unknown[] }[] }>();
  for (const r of records) {
    const key = `${r.service}\u0000${r.instance}`;
    let res = resources.get(key);
    if (!res) {
      res = {
        resource: {
          attributes: [attr('service.name', r.service), attr('service.instance.id', r.instance), attr('service.namespace', r.app), attr('service.version', r.revision), attr('host.name', r.node), attr('berth.variant', r.variant)],
        },
        scopeLogs: [{ scope: { name: 'berth-logs' }, logRecords: [] }],
      };
      resources.set(key, res);
    }
    const attributes = [attr('log.iostream', r.stream), attr('log.file.path', r.file), attr('berth.record_id', r.id)];
    const fields = recordFields(r);
    if (fields) for (const [k, v] of Object.entries(fields)) attributes.push(attr(k, v));
    const ns = timeNs(r.time);
    res.scopeLogs[0].logRecords.push({
      timeUnixNano: ns,
      observedTimeUnixNano: ns,
      ...(r.level ? { severityNumber: OTLP_SEVERITY[r.level], severityText: r.level.toUpperCase() } : {}),
      body: { stringValue: r.message },
      attributes,
    });
  }
  return JSON.stringify({ resourceLogs: [...resources.values()] });
}

const SYSLOG_SEVERITY: Record<string, number> = { trace: 7, debug: 7, info: 6, warn: 4, error: 3, fatal: 2 };

function sdEscape(s: string): string {
  return s.replace(/[\\"\]]/g, (c) => '\\' + c);
}

function printable(s: string, max: number): string {
  const t = s.replace(/[^\x21-\x7e]/g, '_').slice(0, max);
  return t || '-';
}

/**
 * One RFC 5424 message (without transport framing). The message keeps its bytes (newlines included):
 * over TCP the octet-counting framing (RFC 6587 §3.4.1) delimits messages, over UDP the datagram does.
 * `sdId` names the structured-data element carrying app, instance, revision, record id and level;
 * without one (the default) there is none: RFC 5424 §6.3.2 reserves names without `@` to IANA, and a
 * private name needs the sender's own enterprise number (`name@<PEN>`), which only the user can supply.
 */
export function syslog5424(r: LogRecord, facility: number, hostname: string, sdId?: string): string {
  const severity = r.level ? SYSLOG_SEVERITY[r.level] : r.stream === 'stderr' ? 3 : 6;
  const pri = facility * 8 + severity;
  // RFC 5424 allows at most 6 fractional digits.
  const ts = r.time.replace(/\.(\d{6})\d+/, '.$1');
  const sd = sdId
    ? `[${sdId} app="${sdEscape(r.app)}" instance="${sdEscape(r.instance)}" revision="${sdEscape(r.revision)}" id="${sdEscape(r.id)}"${r.level ? ` level="${r.level}"` : ''}]`
    : '-';
  return `<${pri}>1 ${ts} ${printable(hostname, 255)} ${printable(r.service, 48)} ${printable(r.instance, 128)} ${printable(r.stream, 32)} ${sd} ${r.message}`;
}

/**
 * The encoding half of a sink that writes JSON lines (file, stdout): records become one body of
 * lines; subclasses only say where the body goes.
 */
export abstract class JsonLinesSink {
  send(records: readonly LogRecord[]): Promise<void> {
    return this.sendEncoded(this.encode(records));
  }

  encode(records: readonly LogRecord[]): EncodedBatch {
    return encodeAll(jsonLinesEncoder(), records);
  }

  encoder(): RecordEncoder {
    return jsonLinesEncoder();
  }

  abstract sendEncoded(batch: EncodedBatch): Promise<void>;
}
