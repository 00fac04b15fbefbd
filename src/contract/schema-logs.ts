// The `logs:` field of a service: what the log agent (`berth-logs`, one per instance) collects,
// how it parses and buffers lines, and which sinks receive them. Referenced from schema.ts.
import { z } from 'zod';

const Regex = z.string().refine(
  (s) => {
    try {
      new RegExp(s);
      return true;
    } catch {
      return false;
    }
  },
  { message: 'must be a valid regular expression (JavaScript syntax)' },
);

export const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal'] as const;
export const LOG_STREAMS = ['stdout', 'stderr', 'file'] as const;

export const LogMultiline = z
  .strictObject({
    preset: z.enum(['node', 'java']).optional().describe('Built-in rules: node (stack lines "    at …") or java (stack lines "\\tat …", "Caused by:", "... N more").'),
    start: Regex.optional().describe('A line matching this pattern starts a new record; other lines continue the previous one.'),
    timeoutMs: z.number().int().positive().default(1000).describe('A pending record is emitted after this many ms without a continuation line.'),
  })
  .refine((m) => m.preset !== undefined || m.start !== undefined, { message: 'set either preset (node, java) or start (a pattern)' })
  .describe('Joins multi-line records (stack traces) into one record.');

export const LogParser = z
  .strictObject({
    type: z.enum(['json', 'logfmt', 'regex']).describe('json: a JSON object per line; logfmt: key=value pairs; regex: named groups become fields.'),
    pattern: Regex.optional().describe('For regex: a pattern with named groups, e.g. "^(?<level>\\w+) (?<message>.*)$".'),
  })
  .refine((p) => p.type !== 'regex' || p.pattern !== undefined, { message: 'a regex parser needs a pattern with named groups' })
  .describe('A parser tried on each line; the first that matches sets the record fields (level, time/ts/timestamp, message/msg are recognised).');

export const LogRoute = z
  .strictObject({
    levels: z.array(z.enum(LOG_LEVELS)).optional().describe('Only records with one of these levels.'),
    minLevel: z.enum(LOG_LEVELS).optional().describe('Only records at this level or above.'),
    streams: z.array(z.enum(LOG_STREAMS)).optional().describe('Only records from these streams (stdout, stderr, file).'),
    services: z.array(z.string()).optional().describe('Only records of these services.'),
  })
  .describe('Which records a sink receives (all conditions must hold; absent = everything).');

const Headers = z.record(z.string(), z.string()).default({}).describe('Extra request headers (e.g. authorization).');

const sinkBase = {
  name: z.string().min(1).optional().describe('Sink name (for routing, status and buffers); default: its type.'),
  route: LogRoute.optional(),
};

export const LogSinkSpec = z
  .discriminatedUnion('type', [
    z.strictObject({ type: z.literal('embedded'), ...sinkBase }).describe('The embedded store held by the control plane (searchable with `berth logs --grep`).'),
    z.strictObject({ type: z.literal('stdout'), ...sinkBase }).describe("JSON lines on the agent's stdout."),
    z
      .strictObject({
        type: z.literal('file'),
        ...sinkBase,
        path: z.string().min(1).describe("Output file (JSON lines), relative to the service's cwd."),
        maxBytes: z.number().int().positive().default(64 * 1024 * 1024).describe('Rotate when the file reaches this size.'),
        keep: z.number().int().min(0).default(3).describe('Rotated files kept.'),
      })
      .describe('JSON lines in a local file, rotated.'),
    z
      .strictObject({
        type: z.literal('http'),
        ...sinkBase,
        url: z.url().describe('Endpoint, e.g. http://loki:3100/loki/api/v1/push or http://es:9200/_bulk.'),
        format: z.enum(['json', 'loki', 'elasticsearch']).default('json').describe('json (an array), loki (push API JSON) or elasticsearch (_bulk NDJSON).'),
        index: z.string().default('berth-logs').describe('Elasticsearch index.'),
        gzip: z.boolean().default(false).describe('Compress request bodies.'),
        headers: Headers,
        batchMaxRecords: z.number().int().positive().default(1000),
        timeoutMs: z.number().int().positive().default(10_000),
      })
      .describe('HTTP push (Loki, Elasticsearch, generic JSON).'),
    z
      .strictObject({
        type: z.literal('otlp'),
        ...sinkBase,
        url: z.url().describe('OTLP/HTTP logs endpoint, e.g. http://collector:4318/v1/logs.'),
        headers: Headers,
        gzip: z.boolean().default(false),
        timeoutMs: z.number().int().positive().default(10_000),
      })
      .describe('OpenTelemetry OTLP/HTTP (JSON encoding).'),
    z
      .strictObject({
        type: z.literal('syslog'),
        ...sinkBase,
        host: z.string().default('127.0.0.1'),
        port: z.number().int().min(1).max(65535).default(514),
        protocol: z.enum(['tcp', 'udp']).default('tcp').describe('tcp (octet-counted framing, RFC 6587) or udp.'),
        facility: z.number().int().min(0).max(23).default(1).describe('Syslog facility number (1 = user).'),
        structuredDataId: z
          .string()
          .regex(/^[\x21-\x7e]{1,32}$/, { message: 'must be 1–32 printable ASCII characters' })
          .refine((s) => /^[^=\]" @]+@\d+(\.\d+)*$/.test(s), {
            message: 'must be name@<private enterprise number> (e.g. berth@12345): RFC 5424 reserves names without @ for IANA-registered ones',
          })
          .optional()
          .describe(
            'SD-ID of a structured-data element with app, instance, revision, record id and level, e.g. berth@<your IANA private enterprise number>. Default: no structured data (service, instance and stream travel in APP-NAME, PROCID and MSGID).',
          ),
      })
      .describe('Syslog RFC 5424.'),
  ])
  .describe('A destination for log records.');

export const LogBuffer = z
  .strictObject({
    type: z.enum(['memory', 'disk']).default('memory').describe('memory, or disk: segments under .berth/ that survive agent restarts.'),
    maxRecords: z.number().int().positive().default(10_000).describe('Records held in memory per sink before the policy applies.'),
    maxBytes: z.number().int().positive().default(256 * 1024 * 1024).describe('Disk buffer size per sink before the policy applies.'),
    whenFull: z.enum(['block', 'drop_newest']).default('block').describe('block: stop reading (resume from the checkpoint); drop_newest: drop and count.'),
  })
  .describe('Buffering between the sources and each sink.');

export const LogAgent = z
  .strictObject({
    run: z
      .union([z.string().min(1), z.array(z.string()).min(1)])
      .optional()
      .describe('Pin another agent command/version (it receives the same environment); default: the berth-logs agent of this Berth.'),
    memoryMiB: z.number().int().positive().default(128).describe('Memory limit of the agent; exceeding it restarts the agent (OOMKilled), the app keeps running.'),
  })
  .describe('The log agent process itself.');

export const Logs = z
  .strictObject({
    enabled: z.boolean().default(true).describe('Run the log agent beside each instance.'),
    files: z.array(z.string().min(1)).default([]).describe("Extra log files to collect: globs relative to the service's cwd (e.g. logs/*.log)."),
    decompress: z
      .boolean()
      .default(false)
      .describe(
        'Read gzip-compressed files matched by `files` (e.g. logrotate\'s app.log.2.gz), decompressed once. Compressed files (gzip, bzip2, xz, zstd, recognised by their first bytes) are skipped otherwise.',
      ),
    multiline: LogMultiline.optional(),
    parsers: z.array(LogParser).default([]).describe('Parsers tried in order on each line.'),
    maxLineBytes: z.number().int().min(256).default(1024 * 1024).describe('Longer lines are truncated while streaming (marked and counted).'),
    flushMs: z
      .number()
      .int()
      .min(0)
      .optional()
      .describe(
        'While lines keep coming, a batch smaller than the sink\'s batch size is sent at most once per this many ms (default 200; 0: at once). A line after a quiet spell goes at once. Fluent Bit: Flush.',
      ),
    buffer: LogBuffer.prefault({}),
    sinks: z.array(LogSinkSpec).default([{ type: 'embedded' }]).describe('Where records go (default: the embedded store).'),
    agent: LogAgent.prefault({}),
  })
  .describe('Log collection for this service: captured stdout/stderr plus `files`, parsed and shipped to `sinks` at least once.');

export type LogsSpec = z.output<typeof Logs>;
export type LogSinkSpecT = z.output<typeof LogSinkSpec>;
