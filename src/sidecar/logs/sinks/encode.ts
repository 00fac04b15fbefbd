// Wire encodings shared by the push sinks: nanosecond timestamps, Loki push JSON, Elasticsearch
// _bulk NDJSON, OTLP/HTTP JSON logs and syslog RFC 5424 messages.
import type { LogRecord } from '../record.js';

/** Epoch nanoseconds (as a decimal string) of an RFC 3339 timestamp, keeping sub-millisecond digits. */
export function timeNs(iso: string): string {
  const ms = Date.parse(iso);
  if (Number.isNaN(ms)) return String(BigInt(Date.now()) * 1_000_000n);
  const frac = /\.(\d+)/.exec(iso)?.[1] ?? '';
  const subMs = (frac + '000000000').slice(3, 9);
  return (BigInt(Math.floor(ms)) * 1_000_000n + BigInt(subMs)).toString();
}

const LABELS = ['app', 'service', 'instance', 'stream'] as const;

/** Loki push API body: one stream per label set (app, service, instance, stream, level). */
export function lokiPush(records: readonly LogRecord[]): string {
  const streams = new Map<string, { stream: Record<string, string>; values: [string, string][] }>();
  for (const r of records) {
    const labels: Record<string, string> = {};
    for (const k of LABELS) labels[k] = r[k];
    if (r.level) labels.level = r.level;
    const key = JSON.stringify(labels);
    let s = streams.get(key);
    if (!s) {
      s = { stream: labels, values: [] };
      streams.set(key, s);
    }
    s.values.push([timeNs(r.time), r.message]);
  }
  return JSON.stringify({ streams: [...streams.values()] });
}

/** Elasticsearch _bulk body: an index action (with the record id, so a retry does not duplicate) and the document. */
export function elasticBulk(records: readonly LogRecord[], index: string): string {
  let out = '';
  for (const r of records) {
    out += JSON.stringify({ index: { _index: index, _id: r.id } }) + '\n';
    const { time, ...rest } = r;
    out += JSON.stringify({ '@timestamp': time, ...rest }) + '\n';
  }
  return out;
}

const OTLP_SEVERITY: Record<string, number> = { trace: 1, debug: 5, info: 9, warn: 13, error: 17, fatal: 21 };

type OtlpValue = { stringValue: string } | { boolValue: boolean } | { doubleValue: number };
const attr = (key: string, v: unknown): { key: string; value: OtlpValue } => ({
  key,
  value: typeof v === 'boolean' ? { boolValue: v } : typeof v === 'number' ? { doubleValue: v } : { stringValue: typeof v === 'string' ? v : JSON.stringify(v) },
});

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
    if (r.fields) for (const [k, v] of Object.entries(r.fields)) attributes.push(attr(k, v));
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

/** One RFC 5424 message (without transport framing). */
export function syslog5424(r: LogRecord, facility: number, hostname: string): string {
  const severity = r.level ? SYSLOG_SEVERITY[r.level] : r.stream === 'stderr' ? 3 : 6;
  const pri = facility * 8 + severity;
  // RFC 5424 allows at most 6 fractional digits.
  const ts = r.time.replace(/\.(\d{6})\d+/, '.$1');
  const sd = `[berth@32473 app="${sdEscape(r.app)}" instance="${sdEscape(r.instance)}" revision="${sdEscape(r.revision)}" id="${sdEscape(r.id)}"${r.level ? ` level="${r.level}"` : ''}]`;
  const msg = r.message.replace(/\n/g, '\\n');
  return `<${pri}>1 ${ts} ${printable(hostname, 255)} ${printable(r.service, 48)} ${printable(r.instance, 128)} ${printable(r.stream, 32)} ${sd} ${msg}`;
}
