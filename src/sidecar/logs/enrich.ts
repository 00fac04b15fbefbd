// Turns a RawLine into a LogRecord: safe UTF-8 decoding (invalid bytes kept as base64), the
// truncation marker, parsers, level and timestamp extraction, and the instance identity.
import { isUtf8 } from 'node:buffer';
import type { LineParser, ParsedFields } from './parsers.js';
import type { RawLine } from './raw-line.js';
import { normalizeLevel, type LogRecord } from './record.js';

export interface Identity {
  app: string;
  service: string;
  variant: string;
  revision: string;
  instance: string;
  node: string;
}

export interface SourceMeta {
  /** Content fingerprint of the source (stable across renames). */
  key: string;
  file: string;
  process: string;
}

const LEVEL_KEYS = new Set(['level', 'lvl', 'severity', 'loglevel', 'log.level']);
const TIME_KEYS = new Set(['time', 'ts', 'timestamp', '@timestamp', 't']);
const MESSAGE_KEYS = new Set(['message', 'msg']);
const LEVEL_IN_TEXT = /\b(TRACE|DEBUG|INFO|NOTICE|WARN|WARNING|ERROR|ERR|FATAL|CRITICAL|PANIC)\b/;

/** Cuts a truncated line back to a UTF-8 character boundary (so truncation never invents bad bytes). */
function trimToCharBoundary(b: Buffer): Buffer {
  let end = b.length;
  let back = 0;
  while (end > 0 && back < 4 && (b[end - 1] & 0xc0) === 0x80) {
    end--;
    back++;
  }
  if (end > 0 && b[end - 1] >= 0xc0) {
    const lead = b[end - 1];
    const need = lead >= 0xf0 ? 4 : lead >= 0xe0 ? 3 : 2;
    if (back + 1 < need) return b.subarray(0, end - 1);
  }
  return b;
}

function toTime(v: unknown): string | undefined {
  if (typeof v === 'number' && Number.isFinite(v)) {
    const ms = v > 1e14 ? v / 1e6 : v > 1e11 ? v : v * 1000; // ns, ms or s since the epoch
    const d = new Date(ms);
    return Number.isNaN(d.getTime()) ? undefined : d.toISOString();
  }
  if (typeof v === 'string' && v.length >= 10 && v.length <= 40) {
    const d = new Date(v);
    if (!Number.isNaN(d.getTime())) return /^\d{4}-\d\d-\d\dT/.test(v) ? v : d.toISOString();
  }
  return undefined;
}

export class RecordBuilder {
  constructor(
    private readonly identity: Identity,
    private readonly parsers: LineParser[],
  ) {}

  build(line: RawLine, src: SourceMeta, now: string): LogRecord {
    let bytes = line.bytes;
    if (line.droppedBytes > 0) bytes = trimToCharBoundary(bytes);
    let message = bytes.toString('utf8');
    const rawBase64 = isUtf8(bytes) ? undefined : bytes.toString('base64');
    if (message.endsWith('\r')) message = message.slice(0, -1);
    const id = this.identity;
    // One object shape for every record (optional fields start undefined and are left out of JSON).
    const rec: LogRecord = {
      id: `${id.instance}/${src.key}:${line.endOffset}`,
      time: line.time ?? now,
      message,
      level: undefined,
      stream: line.stream,
      file: src.file,
      process: src.process,
      app: id.app,
      service: id.service,
      variant: id.variant,
      revision: id.revision,
      instance: id.instance,
      node: id.node,
      fields: undefined,
      truncated: undefined,
      rawBase64,
    };
    let parsed: ParsedFields | undefined;
    for (const p of this.parsers) {
      parsed = p(message);
      if (parsed) break;
    }
    if (parsed) this.lift(rec, parsed);
    if (rec.level === undefined) {
      const m = LEVEL_IN_TEXT.exec(message.length > 80 ? message.slice(0, 80) : message);
      if (m) rec.level = normalizeLevel(m[1]);
    }
    if (line.droppedBytes > 0) {
      rec.truncated = true;
      rec.message += `…[truncated ${line.droppedBytes} bytes]`;
    }
    return rec;
  }

  /** Moves level, time and message out of parsed fields into the record; the rest become `fields`. */
  private lift(rec: LogRecord, parsed: ParsedFields): void {
    let rest: ParsedFields | undefined;
    let gotLevel = false;
    let gotTime = false;
    let gotMessage = false;
    for (const k in parsed) {
      const v = parsed[k];
      if (!gotLevel && LEVEL_KEYS.has(k)) {
        const lv = normalizeLevel(v);
        if (lv) {
          rec.level = lv;
          gotLevel = true;
          continue;
        }
      } else if (!gotTime && TIME_KEYS.has(k)) {
        const t = toTime(v);
        if (t) {
          rec.time = t;
          gotTime = true;
          continue;
        }
      } else if (!gotMessage && MESSAGE_KEYS.has(k) && typeof v === 'string') {
        rec.message = v;
        gotMessage = true;
        continue;
      }
      (rest ??= {})[k] = v;
    }
    if (rest) rec.fields = rest;
  }
}
