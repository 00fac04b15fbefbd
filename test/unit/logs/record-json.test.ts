// Record serialisation stays byte-for-byte what it was: the builder's fast path (the json parser's
// line text spliced into the record's JSON instead of JSON.parse + JSON.stringify) is compared with
// the previous builder, kept here verbatim as the reference, on representative lines (valid JSON,
// invalid JSON, non-UTF-8 bytes, truncated long lines, multiline, CRI capture times) and on seeded
// fuzz input. Both the plain record (deep equality) and its JSON text (string equality) must match,
// for every sink encoding that is derived from them.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isUtf8 } from 'node:buffer';
import { elasticBulk, lokiPush, otlpLogs, parseJsonLine, parseLogfmt, RecordBuilder, syslog5424, type LogRecord } from '../../../src/sidecar/logs/index.js';
import { recordJson } from '../../../src/sidecar/logs/enrich.js';
import { scanJsonObject, SCANNED } from '../../../src/sidecar/logs/json-scan.js';
import { encodeJsonArray } from '../../../src/sidecar/logs/sinks/encode.js';
import { normalizeLevel } from '../../../src/sidecar/logs/record.js';
import { identity } from './helpers.js';
import { rng } from '../../helpers/seeded-random.js';

// ---- the previous RecordBuilder (reference) ----
type ParsedFields = Record<string, unknown>;
type LineParser = (text: string) => ParsedFields | undefined;
interface RawLine {
  bytes: Buffer;
  droppedBytes: number;
  stream: 'stdout' | 'stderr' | 'file';
  time?: string;
  startOffset: number;
  endOffset: number;
}
type OldIdentity = typeof identity;
interface SourceMeta {
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

class OldRecordBuilder {
  constructor(
    private readonly identity: OldIdentity,
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

// ---- helpers ----
const src: SourceMeta = { key: 'a1b2c3', file: '/srv/app/logs/app.log', process: 'app' };
const srcOdd: SourceMeta = { key: 'k"\\', file: '/tmp/dir with "quotes"\\/é.log', process: 'p\u2028' };
const NOW = '2026-11-27T01:02:03.456Z';

function raw(bytes: Buffer, over: Partial<RawLine> = {}): RawLine {
  return { bytes, droppedBytes: 0, stream: 'file', startOffset: 100, endOffset: 100 + bytes.length + 1, ...over };
}

function check(parsers: LineParser[], line: RawLine, meta: SourceMeta = src): void {
  const oldB = new OldRecordBuilder(identity, parsers);
  const newB = new RecordBuilder(identity, parsers);
  const want = oldB.build(line, meta, NOW);
  const what = `${JSON.stringify(line.bytes.toString('latin1'))} dropped=${line.droppedBytes}`;
  // (A top-level "__proto__" member became the prototype of the old `fields`: equal, but not by reference.)
  if (line.bytes.includes('__proto__')) assert.equal(JSON.stringify(newB.build(line, meta, NOW)), JSON.stringify(want), what);
  else assert.deepStrictEqual(newB.build(line, meta, NOW), want, what);
  const built = newB.buildRecord(line, meta, NOW);
  assert.equal(recordJson(built), JSON.stringify(want), what);
  assert.deepStrictEqual(JSON.parse(recordJson(built)), JSON.parse(JSON.stringify(want)), what);
  const olds = [want as LogRecord];
  const news = [built as LogRecord];
  assert.equal(encodeJsonArray(news).toString(), JSON.stringify(olds), what);
  assert.equal(lokiPush(news), lokiPush(olds), what);
  assert.equal(elasticBulk(news, 'ix'), elasticBulk(olds, 'ix'), what);
  assert.equal(otlpLogs(news), otlpLogs(olds), what);
  assert.equal(syslog5424(built, 1, 'h'), syslog5424(want, 1, 'h'), what);
}

const PARSER_SETS: LineParser[][] = [[parseJsonLine], [parseJsonLine, parseLogfmt], [parseLogfmt, parseJsonLine], []];

const REPRESENTATIVE = [
  '{"ts":"2026-11-26T22:34:19.123Z","level":"info","msg":"request handled seq=1","method":"GET","path":"/api/v1/orders","status":200,"ms":12}        ',
  '{"level":50,"time":1764196459123,"msg":"db down","user":"u1"}',
  '{"level":"warning","@timestamp":"2026-11-26T22:34:19+01:00","message":"a \\"quoted\\" \\\\ word\\n next","nested":{"a":[1,2.5,{"b":null}],"c":true},"arr":[]}',
  '{"msg":"no time","t":"not a time","severity":"bogus","lvl":"ERR"}',
  '{"level":"info","level":"error","msg":"duplicate keys"}',
  '{"b":1,"2":"index key moves first","a":3}',
  '{"__proto__":{"x":1},"msg":"proto"}',
  '{"msg":"escapes \\u00e9 \\/ \\u001f \\u0008 \\ud83d\\ude00","n":1.0,"m":1e2,"z":-0,"big":12345678901234567890,"inf":1e400}',
  '  {"msg": "whitespace", "level" : "debug" }  ',
  '{"msg":"emoji 😀 日本 \u2028","level":"trace"}',
  '{"broken json',
  '{"msg":"trailing garbage"} x',
  '[1,2,3]',
  '{}',
  '{"level":{},"time":null,"message":42}',
  '{"time":"2026-02-30T00:00:00Z","ts":"2026-11-26T24:00:00Z","msg":"lenient dates"}',
  '{"time":"2026-11-26 22:34:19","msg":"space date"}',
  '{"ts":1764196459,"msg":"seconds"}',
  '{"ts":1764196459123456789,"msg":"nanoseconds"}',
  'plain text line with ERROR inside',
  '2026-01-01 WARN low disk',
  'level=info msg="logfmt line" n=3',
  '{"msg":"crlf"}\r',
  '',
  '\ufeff{"msg":"bom"}',
  '{"a":"x","b":"y","level":"info","c":"z","msg":"m","d":[{"e":{"f":"g"}}]}',
];

test('record JSON: representative lines give the same record and the same JSON as before (every parser set, every encoder)', () => {
  for (const parsers of PARSER_SETS) {
    for (const text of REPRESENTATIVE) {
      check(parsers, raw(Buffer.from(text)));
      check(parsers, raw(Buffer.from(text), { stream: 'stderr', time: '2026-11-26T22:34:19.123456789Z' }), srcOdd);
    }
    // Non-UTF-8 bytes (kept as base64), inside and outside JSON.
    check(parsers, raw(Buffer.concat([Buffer.from('{"msg":"bad '), Buffer.from([0xff, 0xfe]), Buffer.from('","level":"info"}')])));
    check(parsers, raw(Buffer.from([0x61, 0xff, 0xfe, 0x62])));
    // Truncated long lines (a cut inside a multi-byte character, and valid JSON cut in its padding).
    check(parsers, raw(Buffer.from('héé').subarray(0, 4), { droppedBytes: 100 }));
    check(parsers, raw(Buffer.from('{"msg":"long","level":"info"}   '), { droppedBytes: 5000 }));
    check(parsers, raw(Buffer.from('{"msg":"long","level":"inf'), { droppedBytes: 5000 }));
    // Multiline records (joined with \n).
    check(parsers, raw(Buffer.from('Error: boom\n    at f (a.js:1:1)\n    at g (b.js:2:2)'), { stream: 'stdout' }));
    check(parsers, raw(Buffer.from('{"msg":"multi"}\n    at x')));
  }
});

// ---- fuzz: generated JSON-ish lines, canonical and not ----
const KEYS = ['level', 'lvl', 'severity', 'loglevel', 'log.level', 'time', 'ts', 'timestamp', '@timestamp', 't', 'message', 'msg', 'a', 'b', 'user', '', '1', '01', '__proto__', 'k\\"q', 'é', 'x y'];
const LEVELS = ['"info"', '"WARN"', '"Warning"', '"err"', '"bogus"', '30', '50', '60', '10', '-1', '"\\u0069nfo"', 'null', '{}', 'true'];
const TIMES = ['"2026-11-26T22:34:19.123Z"', '"2026-11-26T22:34:19Z"', '"2026-11-26T22:34:19.123456789+05:30"', '"2026-02-29T00:00:00Z"', '"2026-13-01T00:00:00Z"', '"2026-11-26T22:34:60Z"', '"2026-11-26 22:34:19"', '"Nov 26 2026"', '"x"', '1764196459', '1764196459123', '1764196459123456789', '1e400', '-5', '"2026-11-26T22:34:19.1234567890Z"', '"2026-11-26t22:34:19z"', '"0000-01-01T00:00:00Z"'];
const STR_PIECES = ['a', 'seq=1', ' ', 'é', '日本', '😀', '\u2028', '\\"', '\\\\', '\\n', '\\t', '\\b', '\\f', '\\r', '\\/', '\\u00e9', '\\u001f', '\\u001F', '\\u0008', '\\u000a', '\\ud800', '\\ud83d\\ude00', '\\x', '\x01', '"', '\\'];
const NUMS = ['0', '-0', '1', '-17', '1.0', '1.5', '0.1', '1e5', '1E5', '1e-7', '1e21', '12345678901234567890', '123456789012345', '9007199254740993', '007', '1.', '.5', '-', '2e+3', '0.000001', '1e400'];

function gen(r: () => number, depth: number): string {
  const pick = <T>(a: T[]) => a[Math.floor(r() * a.length)];
  const ws = () => (r() < 0.05 ? pick([' ', '\t', '\n', '  ']) : '');
  const x = r();
  if (x < 0.35) {
    let s = '"';
    const n = Math.floor(r() * 6);
    for (let i = 0; i < n; i++) s += pick(STR_PIECES);
    return s + '"';
  }
  if (x < 0.55) return pick(NUMS);
  if (x < 0.62) return pick(['true', 'false', 'null', 'tru', 'nul']);
  if (depth > 3) return '1';
  if (x < 0.75) {
    const n = Math.floor(r() * 4);
    const items: string[] = [];
    for (let i = 0; i < n; i++) items.push(ws() + gen(r, depth + 1) + ws());
    return '[' + items.join(',') + ']';
  }
  return genObject(r, depth + 1, 4);
}

function genObject(r: () => number, depth: number, max: number): string {
  const pick = <T>(a: T[]) => a[Math.floor(r() * a.length)];
  const ws = () => (r() < 0.05 ? pick([' ', '\t', '\n']) : '');
  const n = Math.floor(r() * max);
  const members: string[] = [];
  for (let i = 0; i < n; i++) {
    const k = pick(KEYS);
    let v: string;
    if (depth === 0 && ['level', 'lvl', 'severity', 'loglevel', 'log.level'].includes(k) && r() < 0.8) v = pick(LEVELS);
    else if (depth === 0 && ['time', 'ts', 'timestamp', '@timestamp', 't'].includes(k) && r() < 0.8) v = pick(TIMES);
    else v = gen(r, depth);
    members.push(ws() + `"${k}"` + ws() + ':' + ws() + v + ws());
  }
  return '{' + members.join(',') + '}';
}

test('record JSON fuzz: generated and mutated lines give the same record and JSON as before; nothing throws', () => {
  const r = rng(20261127);
  const newB = new RecordBuilder(identity, [parseJsonLine]);
  let fast = 0; // lines the splicing fast path took (the rest went through JSON.parse)
  for (let i = 0; i < 20_000; i++) {
    let text = genObject(r, 0, 9);
    if (r() < 0.15) {
      // Mutate: cut, or overwrite one character.
      const at = Math.floor(r() * text.length);
      text = r() < 0.5 ? text.slice(0, at) : text.slice(0, at) + String.fromCharCode(Math.floor(r() * 128)) + text.slice(at + 1);
    }
    if (r() < 0.05) text = ' ' + text + ' \t';
    let bytes = Buffer.from(text);
    if (r() < 0.03) {
      bytes = Buffer.from(bytes);
      bytes[Math.floor(r() * bytes.length)] = 0x80 + Math.floor(r() * 128);
    }
    const dropped = r() < 0.05 ? 1 + Math.floor(r() * 1000) : 0;
    const t = text.trimStart();
    if (t.startsWith('{') && scanJsonObject(t) === SCANNED) fast++;
    check(i % 7 === 0 ? [parseJsonLine, parseLogfmt] : [parseJsonLine], raw(bytes, { droppedBytes: dropped }), i % 11 === 0 ? srcOdd : src);
  }
  assert.ok(fast > 2000, `fast path taken ${fast} times`);
  // Random bytes never throw and lose nothing: the message holds the decoded line, odd bytes are kept.
  for (let i = 0; i < 5000; i++) {
    const b = Buffer.alloc(Math.floor(r() * 60));
    for (let k = 0; k < b.length; k++) b[k] = r() < 0.5 ? '{}[]":,\\ 0e-.tfnlu'.charCodeAt(Math.floor(r() * 19)) : Math.floor(r() * 256);
    const rec = newB.buildRecord(raw(b), src, NOW);
    if (!isUtf8(b)) assert.equal(Buffer.from(rec.rawBase64 ?? '', 'base64').toString('hex'), b.toString('hex'));
    JSON.parse(recordJson(rec));
  }
});

test('levels: normalizeLevel unchanged for the spellings the fast path decodes', () => {
  assert.equal(normalizeLevel('WARNING'), 'warn');
  assert.equal(normalizeLevel(55), 'error');
});
