// Turns a RawLine into a LogRecord: safe UTF-8 decoding (invalid bytes kept as base64), the
// truncation marker, parsers, level and timestamp extraction, and the instance identity.
import { isUtf8 } from 'node:buffer';
import { members, scanJsonObject, SCANNED, STRING, STRING_ESCAPED, NUMBER } from './json-scan.js';
import { parseJsonLine, type LineParser, type ParsedFields } from './parsers.js';
import type { RawLine } from './raw-line.js';
import { normalizeLevel, type LogLevelName, type LogRecord, type LogStreamName } from './record.js';

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
  /** A file of the service (read by one agent for all instances): records name no instance. */
  shared?: boolean;
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

const DAYS_FAST = 28;

/** True for `YYYY-MM-DDTHH:MM:SS[.fraction](Z|±HH:MM)` with in-range fields: `new Date()` accepts all of them. */
function isPlainIso(v: string): boolean {
  const n = v.length;
  if (n < 20 || n > 35) return false;
  if (v.charCodeAt(4) !== 0x2d || v.charCodeAt(7) !== 0x2d || v.charCodeAt(10) !== 0x54 || v.charCodeAt(13) !== 0x3a || v.charCodeAt(16) !== 0x3a) return false;
  if (!digits(v, 0, 4)) return false;
  const mo = num2(v, 5);
  const d = num2(v, 8);
  const h = num2(v, 11);
  const mi = num2(v, 14);
  const s = num2(v, 17);
  if (mo < 1 || mo > 12 || d < 1 || d > DAYS_FAST || h < 0 || h > 23 || mi < 0 || mi > 59 || s < 0 || s > 59) return false;
  let i = 19;
  if (v.charCodeAt(i) === 0x2e) {
    const f = ++i;
    while (i < n && isDigit(v.charCodeAt(i))) i++;
    if (i === f || i - f > 9) return false;
  }
  const z = v.charCodeAt(i);
  if (z === 0x5a) return i + 1 === n;
  if (z !== 0x2b && z !== 0x2d) return false;
  if (i + 6 !== n || v.charCodeAt(i + 3) !== 0x3a) return false;
  const oh = num2(v, i + 1);
  const om = num2(v, i + 4);
  return oh >= 0 && oh <= 23 && om >= 0 && om <= 59;
}

function isDigit(c: number): boolean {
  return c >= 0x30 && c <= 0x39;
}

function digits(v: string, from: number, count: number): boolean {
  for (let i = from; i < from + count; i++) if (!isDigit(v.charCodeAt(i))) return false;
  return true;
}

/** Two decimal digits at `i`, or -1. */
function num2(v: string, i: number): number {
  const a = v.charCodeAt(i);
  const b = v.charCodeAt(i + 1);
  return isDigit(a) && isDigit(b) ? (a - 0x30) * 10 + (b - 0x30) : -1;
}

function toTime(v: unknown): string | undefined {
  if (typeof v === 'number' && Number.isFinite(v)) {
    const ms = v > 1e14 ? v / 1e6 : v > 1e11 ? v : v * 1000; // ns, ms or s since the epoch
    const d = new Date(ms);
    return Number.isNaN(d.getTime()) ? undefined : d.toISOString();
  }
  if (typeof v === 'string' && v.length >= 10 && v.length <= 40) {
    if (isPlainIso(v)) return v;
    const d = new Date(v);
    if (!Number.isNaN(d.getTime())) return /^\d{4}-\d\d-\d\dT/.test(v) ? v : d.toISOString();
  }
  return undefined;
}

const NO_KEY = 0;
const LEVEL_KEY = 1;
const TIME_KEY = 2;
const MESSAGE_KEY = 3;

/** LEVEL_KEYS / TIME_KEYS / MESSAGE_KEYS membership of the key t[ks, ke), without slicing it. */
function keyClass(t: string, ks: number, ke: number): number {
  switch (ke - ks) {
    case 1:
      return t.charCodeAt(ks) === 0x74 ? TIME_KEY : NO_KEY; // t
    case 2:
      return t.startsWith('ts', ks) ? TIME_KEY : NO_KEY;
    case 3:
      return t.startsWith('lvl', ks) ? LEVEL_KEY : t.startsWith('msg', ks) ? MESSAGE_KEY : NO_KEY;
    case 4:
      return t.startsWith('time', ks) ? TIME_KEY : NO_KEY;
    case 5:
      return t.startsWith('level', ks) ? LEVEL_KEY : NO_KEY;
    case 7:
      return t.startsWith('message', ks) ? MESSAGE_KEY : NO_KEY;
    case 8:
      return t.startsWith('severity', ks) || t.startsWith('loglevel', ks) ? LEVEL_KEY : NO_KEY;
    case 9:
      return t.startsWith('log.level', ks) ? LEVEL_KEY : t.startsWith('timestamp', ks) ? TIME_KEY : NO_KEY;
    case 10:
      return t.startsWith('@timestamp', ks) ? TIME_KEY : NO_KEY;
    default:
      return NO_KEY;
  }
}

/** The parsed value of a scanned top-level member, as JSON.parse would give it (strings and numbers only). */
function memberValue(t: string, m: number): string | number | undefined {
  const kind = members.valueKind[m];
  const vs = members.valueStart[m];
  const ve = members.valueEnd[m];
  if (kind === STRING) return t.slice(vs + 1, ve - 1);
  if (kind === STRING_ESCAPED) return JSON.parse(t.slice(vs, ve)) as string;
  if (kind === NUMBER) return Number(t.slice(vs, ve));
  return undefined; // object, array, true, false, null: never a level, time or message
}

/** The JSON text of what does not depend on the line: the id's prefix and the members after `level`. */
interface SourceJson {
  key: string;
  file: string;
  process: string;
  stream: string;
  shared: boolean;
  /** `{"id":"<instance>/<key>:` (the end offset and closing quote follow). */
  idHead: string;
  /** `,"stream":…,"node":"…"` */
  tail: string;
}

/**
 * A record as the builder makes it. Carries the JSON text of its line where that text can be used
 * as is (`fields`, `message`), so encoders need neither the parsed fields object nor a re-serialisation;
 * `toJSONText()` is exactly `JSON.stringify(toPlainRecord(this))`. Only the pipeline, Delivery and the
 * built-in sinks see these; everything else gets plain records (toPlainRecord).
 */
export class BuiltRecord implements LogRecord {
  level: LogLevelName | undefined = undefined;
  fields: Record<string, unknown> | undefined = undefined;
  truncated: true | undefined = undefined;
  /** Exact JSON.stringify(fields) when `fields` was not materialised. */
  fieldsJson: string | undefined = undefined;
  /** Exact JSON.stringify(message) when known from the line. */
  messageJson: string | undefined = undefined;
  private json: string | undefined = undefined;

  constructor(
    readonly sj: SourceJson,
    readonly endOffset: number,
    readonly id: string,
    public time: string,
    public message: string,
    readonly stream: LogStreamName,
    readonly file: string,
    readonly process: string,
    readonly identity: Identity,
    readonly rawBase64: string | undefined,
  ) {}

  get app(): string {
    return this.identity.app;
  }
  get service(): string {
    return this.identity.service;
  }
  get variant(): string {
    return this.identity.variant;
  }
  get revision(): string {
    return this.identity.revision;
  }
  get instance(): string {
    return this.identity.instance;
  }
  get node(): string {
    return this.identity.node;
  }

  /** The parsed fields (materialised from the line's text on demand). */
  parsedFields(): Record<string, unknown> | undefined {
    if (this.fields === undefined && this.fieldsJson !== undefined) return JSON.parse(this.fieldsJson) as Record<string, unknown>;
    return this.fields;
  }

  toJSONText(): string {
    if (this.json !== undefined) return this.json;
    let s = this.sj.idHead + this.endOffset + '","time":' + JSON.stringify(this.time) + ',"message":' + (this.messageJson ?? JSON.stringify(this.message));
    if (this.level !== undefined) s += ',"level":"' + this.level + '"';
    s += this.sj.tail;
    if (this.fieldsJson !== undefined) s += ',"fields":' + this.fieldsJson;
    else if (this.fields !== undefined) s += ',"fields":' + JSON.stringify(this.fields);
    if (this.truncated !== undefined) s += ',"truncated":true';
    if (this.rawBase64 !== undefined) s += ',"rawBase64":"' + this.rawBase64 + '"';
    s += '}';
    this.json = s;
    return s;
  }
}

/** A plain LogRecord (the shape and key order records always had) of any record. */
export function toPlainRecord(r: LogRecord): LogRecord {
  if (!(r instanceof BuiltRecord)) return r;
  return {
    id: r.id,
    time: r.time,
    message: r.message,
    level: r.level,
    stream: r.stream,
    file: r.file,
    process: r.process,
    app: r.app,
    service: r.service,
    variant: r.variant,
    revision: r.revision,
    instance: r.instance,
    node: r.node,
    fields: r.parsedFields(),
    truncated: r.truncated,
    rawBase64: r.rawBase64,
  };
}

/** Exactly `JSON.stringify(record)` of the record's plain form. */
export function recordJson(r: LogRecord): string {
  return r instanceof BuiltRecord ? r.toJSONText() : JSON.stringify(r);
}

/** The record's parsed fields (materialised from the line's text for built records). */
export function recordFields(r: LogRecord): Record<string, unknown> | undefined {
  return r instanceof BuiltRecord ? r.parsedFields() : r.fields;
}

/** Record ids start with the instance, or `@<service>` for the service's shared files (no instance reads them alone). */
function idPrefix(id: Identity, src: SourceMeta): string {
  return src.shared ? `@${id.service}` : id.instance;
}

export class RecordBuilder {
  private sj: SourceJson | undefined;
  /** The identity of records from the service's shared files: no instance (see SourceMeta.shared). */
  private readonly serviceIdentity: Identity;
  private readonly jsonFirst: boolean;

  constructor(
    private readonly identity: Identity,
    private readonly parsers: LineParser[],
  ) {
    this.jsonFirst = parsers[0] === parseJsonLine;
    this.serviceIdentity = { ...identity, instance: '' };
  }

  /** A plain LogRecord (tests, in-process users). */
  build(line: RawLine, src: SourceMeta, now: string): LogRecord {
    return toPlainRecord(this.buildRecord(line, src, now));
  }

  private sourceJson(src: SourceMeta, stream: LogStreamName): SourceJson {
    const c = this.sj;
    if (c !== undefined && c.key === src.key && c.file === src.file && c.process === src.process && c.stream === stream && c.shared === (src.shared === true)) return c;
    const id = src.shared ? this.serviceIdentity : this.identity;
    const idText = JSON.stringify(`${idPrefix(id, src)}/${src.key}:`);
    const q = JSON.stringify;
    const sj: SourceJson = {
      key: src.key,
      file: src.file,
      process: src.process,
      stream,
      shared: src.shared === true,
      idHead: '{"id":' + idText.slice(0, -1),
      tail: `,"stream":${q(stream)},"file":${q(src.file)},"process":${q(src.process)},"app":${q(id.app)},"service":${q(id.service)},"variant":${q(id.variant)},"revision":${q(id.revision)},"instance":${q(id.instance)},"node":${q(id.node)}`,
    };
    this.sj = sj;
    return sj;
  }

  /** The record of one line (see BuiltRecord). */
  buildRecord(line: RawLine, src: SourceMeta, now: string): BuiltRecord {
    let bytes = line.bytes;
    if (line.droppedBytes > 0) bytes = trimToCharBoundary(bytes);
    let message = bytes.toString('utf8');
    const rawBase64 = isUtf8(bytes) ? undefined : bytes.toString('base64');
    if (message.endsWith('\r')) message = message.slice(0, -1);
    const id = src.shared ? this.serviceIdentity : this.identity;
    const rec = new BuiltRecord(this.sourceJson(src, line.stream), line.endOffset, `${idPrefix(id, src)}/${src.key}:${line.endOffset}`, line.time ?? now, message, line.stream, src.file, src.process, id, rawBase64);
    let done = false;
    if (this.jsonFirst) {
      const t = message.trimStart();
      if (t.charCodeAt(0) === 0x7b && scanJsonObject(t) === SCANNED) {
        this.liftScanned(rec, t);
        done = true;
      }
    }
    if (!done) {
      let parsed: ParsedFields | undefined;
      for (const p of this.parsers) {
        parsed = p(message);
        if (parsed) break;
      }
      if (parsed) this.lift(rec, parsed);
    }
    if (rec.level === undefined) {
      const m = LEVEL_IN_TEXT.exec(message.length > 80 ? message.slice(0, 80) : message);
      if (m) rec.level = normalizeLevel(m[1]);
    }
    if (line.droppedBytes > 0) {
      rec.truncated = true;
      rec.message += `…[truncated ${line.droppedBytes} bytes]`;
      rec.messageJson = undefined;
    }
    return rec;
  }

  /** `lift` over the members found by scanJsonObject: the same decisions, with `fields` kept as the line's text. */
  private liftScanned(rec: BuiltRecord, t: string): void {
    let gotLevel = false;
    let gotTime = false;
    let gotMessage = false;
    let rest: string | undefined;
    let runStart = -1; // text offset of the current run of kept members
    let runEnd = -1;
    const n = members.count;
    for (let m = 0; m < n; m++) {
      const ks = members.keyStart[m];
      const cls = keyClass(t, ks, members.keyEnd[m]);
      let lifted = false;
      if (cls !== NO_KEY) {
        if (!gotLevel && cls === LEVEL_KEY) {
          const lv = normalizeLevel(memberValue(t, m));
          if (lv) {
            rec.level = lv;
            gotLevel = lifted = true;
          }
        } else if (!gotTime && cls === TIME_KEY) {
          const tm = toTime(memberValue(t, m));
          if (tm) {
            rec.time = tm;
            gotTime = lifted = true;
          }
        } else if (!gotMessage && cls === MESSAGE_KEY) {
          const kind = members.valueKind[m];
          if (kind === STRING || kind === STRING_ESCAPED) {
            rec.message = memberValue(t, m) as string;
            rec.messageJson = t.slice(members.valueStart[m], members.valueEnd[m]);
            gotMessage = lifted = true;
          }
        }
      }
      if (lifted) {
        if (runStart >= 0) {
          rest = rest === undefined ? t.slice(runStart, runEnd) : rest + ',' + t.slice(runStart, runEnd);
          runStart = -1;
        }
        continue;
      }
      if (runStart < 0) runStart = ks - 1;
      runEnd = members.valueEnd[m];
    }
    if (runStart >= 0) rest = rest === undefined ? t.slice(runStart, runEnd) : rest + ',' + t.slice(runStart, runEnd);
    if (rest !== undefined) rec.fieldsJson = '{' + rest + '}';
  }

  /** Moves level, time and message out of parsed fields into the record; the rest become `fields`. */
  private lift(rec: BuiltRecord, parsed: ParsedFields): void {
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
