// Parsers and line handling, with seeded fuzzing: CRI lines, logfmt, JSON, the bounded line
// splitter, CRI partial joining and multiline joining never throw, never lose bytes under the limit
// and never hold more than the limit.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BoundedLineSplitter, MultilineJoiner, parseCri, parseJsonLine, parseLogfmt, regexParser, RecordBuilder } from '../../../src/sidecar/logs/index.js';
import { identity } from './helpers.js';
import { rng } from '../../helpers/seeded-random.js';


function randomBytes(r: () => number, n: number, alphabet?: string): Buffer {
  const b = Buffer.alloc(n);
  for (let i = 0; i < n; i++) b[i] = alphabet ? alphabet.charCodeAt(Math.floor(r() * alphabet.length)) : Math.floor(r() * 256);
  return b;
}

test('CRI: parses F and P lines; rejects what is not CRI', () => {
  const f = parseCri(Buffer.from('2026-11-26T22:34:19.123456789Z stdout F hello world'));
  assert.deepEqual({ ...f, payload: f?.payload.toString() }, { time: '2026-11-26T22:34:19.123456789Z', stream: 'stdout', partial: false, payload: 'hello world' });
  assert.equal(parseCri(Buffer.from('2026-11-26T22:34:19.123456789Z stderr P part'))?.partial, true);
  assert.equal(parseCri(Buffer.from('2026-11-26T22:34:19.123456789Z stderr F'))?.payload.length, 0);
  for (const bad of ['hello', '2026-11-26T22:34:19Z stdin F x', '2026-11-26T22:34:19Z stdout X x', 'not-a-time-at-all-really stdout F x', '']) assert.equal(parseCri(Buffer.from(bad)), undefined, bad);
});

test('CRI fuzz: random bytes and mutated records never throw; accepted lines are well-formed', () => {
  const r = rng(42);
  const base = Buffer.from('2026-11-26T22:34:19.123456789Z stdout F payload');
  for (let i = 0; i < 20_000; i++) {
    let b: Buffer;
    if (i % 2 === 0) b = randomBytes(r, Math.floor(r() * 80), i % 4 === 0 ? '0123456789-:TZ. stdouterrFP' : undefined);
    else {
      b = Buffer.from(base);
      for (let k = 0; k < 3; k++) b[Math.floor(r() * b.length)] = Math.floor(r() * 256);
    }
    const p = parseCri(b);
    if (p) {
      assert.ok(p.stream === 'stdout' || p.stream === 'stderr');
      assert.ok(!Number.isNaN(Date.parse(p.time)));
    }
  }
});

test('logfmt: pairs, quoted values with escapes, bare keys; malformed lines are not logfmt', () => {
  assert.deepEqual(parseLogfmt('level=info msg="hello \\"world\\"" n=3 debug'), { level: 'info', msg: 'hello "world"', n: '3', debug: true });
  assert.equal(parseLogfmt('just some words'), undefined);
  assert.equal(parseLogfmt('a="unterminated'), undefined);
  assert.equal(parseLogfmt(''), undefined);
});

test('logfmt fuzz: round-trips generated pairs and never throws on noise', () => {
  const r = rng(7);
  for (let i = 0; i < 5000; i++) {
    const obj: Record<string, string> = {};
    const n = 1 + Math.floor(r() * 5);
    for (let k = 0; k < n; k++) obj[`k${k}_${Math.floor(r() * 100)}`] = randomBytes(r, Math.floor(r() * 12), 'ab c"=\\\t\nxyz').toString();
    const line = Object.entries(obj)
      .map(([k, v]) => `${k}="${v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n').replace(/\t/g, '\\t')}"`)
      .join(' ');
    assert.deepEqual(parseLogfmt(line), obj, line);
    parseLogfmt(randomBytes(r, Math.floor(r() * 60), 'a= "\\b').toString());
  }
});

test('json and regex parsers: objects only; named groups become fields', () => {
  assert.deepEqual(parseJsonLine('{"a":1}'), { a: 1 });
  assert.equal(parseJsonLine('[1,2]'), undefined);
  assert.equal(parseJsonLine('{"broken":'), undefined);
  assert.equal(parseJsonLine('plain'), undefined);
  const re = regexParser('^(?<level>[A-Z]+) (?<message>.*)$');
  assert.deepEqual(re('WARN disk almost full'), { level: 'WARN', message: 'disk almost full' });
  assert.equal(re('lowercase'), undefined);
});

test('line splitter fuzz: any chunking gives the same lines and offsets; long lines are cut at the limit and counted', () => {
  const r = rng(99);
  for (let round = 0; round < 300; round++) {
    const max = 16 + Math.floor(r() * 64);
    const input = randomBytes(r, Math.floor(r() * 2000), 'abc\n\n\xff');
    const reference = new BoundedLineSplitter(max, 0).push(input, 0);
    const s = new BoundedLineSplitter(max, 0);
    const got: ReturnType<BoundedLineSplitter['push']> = [];
    let off = 0;
    while (off < input.length) {
      const n = 1 + Math.floor(r() * 50);
      s.push(input.subarray(off, off + n), off, got);
      off += n;
    }
    assert.equal(got.length, reference.length);
    for (let i = 0; i < got.length; i++) {
      assert.ok(got[i].bytes.equals(reference[i].bytes));
      assert.equal(got[i].endOffset, reference[i].endOffset);
      assert.ok(got[i].bytes.length <= max);
      const whole = input.subarray(got[i].startOffset, got[i].endOffset - 1);
      assert.equal(got[i].bytes.length + got[i].droppedBytes, whole.length);
      assert.ok(whole.subarray(0, got[i].bytes.length).equals(got[i].bytes));
    }
  }
});

test('multiline fuzz: every line ends up in exactly one record, in order, within the limit', () => {
  const r = rng(5);
  for (let round = 0; round < 300; round++) {
    const j = new MultilineJoiner({ preset: 'node', timeoutMs: 1000 }, 10_000);
    const lines: string[] = [];
    const out: Parameters<MultilineJoiner['push']>[2] = [];
    let off = 0;
    const n = 1 + Math.floor(r() * 40);
    for (let i = 0; i < n; i++) {
      const text = r() < 0.4 ? `    at fn${i} (file.js:${i}:1)` : `Error ${i}: ${randomBytes(r, 5, 'xyz').toString()}`;
      lines.push(text);
      const bytes = Buffer.from(text);
      j.push({ bytes, droppedBytes: 0, stream: 'stdout', startOffset: off, endOffset: off + bytes.length + 1 }, 0, out);
      off += bytes.length + 1;
    }
    j.flush(out);
    assert.equal(out.map((x) => x.bytes.toString()).join('\n'), lines.join('\n'));
    for (const rec of out.slice(1)) assert.ok(!/^\s+at /.test(rec.bytes.toString()), 'only the first record may start with a stack frame');
  }
});

test('multiline: java preset joins "at", "Caused by" and "... N more"; a start pattern decides by itself', () => {
  const out: Parameters<MultilineJoiner['push']>[2] = [];
  const j = new MultilineJoiner({ preset: 'java', timeoutMs: 1000 }, 10_000);
  const text = ['Exception in thread "main" java.lang.RuntimeException: boom', '\tat Main.main(Main.java:3)', 'Caused by: java.io.IOException: x', '\t... 1 more', 'next line'];
  let off = 0;
  for (const t of text) {
    j.push({ bytes: Buffer.from(t), droppedBytes: 0, stream: 'stdout', startOffset: off, endOffset: (off += t.length + 1) }, 0, out);
  }
  j.flush(out);
  assert.deepEqual(out.map((o) => o.bytes.toString()), [text.slice(0, 4).join('\n'), 'next line']);
  const s = new MultilineJoiner({ start: '^\\d{4}-', timeoutMs: 1000 }, 10_000);
  const out2: typeof out = [];
  for (const t of ['2026-01-01 a', 'cont', '2026-01-02 b']) s.push({ bytes: Buffer.from(t), droppedBytes: 0, stream: 'stdout', startOffset: 0, endOffset: 1 }, 0, out2);
  s.flush(out2);
  assert.deepEqual(out2.map((o) => o.bytes.toString()), ['2026-01-01 a\ncont', '2026-01-02 b']);
});

test('records: json fields lifted (level, time, message), pino numeric levels, invalid UTF-8 kept as base64, truncation marked', () => {
  const b = new RecordBuilder(identity, [parseJsonLine]);
  const src = { key: 'k', file: '/x/app.log', process: 'app' };
  const line = (s: string | Buffer, dropped = 0) => ({ bytes: Buffer.isBuffer(s) ? s : Buffer.from(s), droppedBytes: dropped, stream: 'stdout' as const, startOffset: 0, endOffset: 10 });
  const r = b.build(line('{"level":50,"time":1764196459123,"msg":"db down","user":"u1"}'), src, '2026-01-01T00:00:00Z');
  assert.equal(r.level, 'error');
  assert.equal(r.message, 'db down');
  assert.equal(r.time, '2025-11-26T22:34:19.123Z');
  assert.deepEqual(r.fields, { user: 'u1' });
  assert.equal(r.service, 'web');
  assert.equal(r.id, 'web-1/k:10');
  const bad = Buffer.from([0x61, 0xff, 0xfe, 0x62]);
  const r2 = b.build(line(bad), src, 'now');
  assert.equal(Buffer.from(r2.rawBase64 ?? '', 'base64').toString('hex'), bad.toString('hex'));
  const r3 = b.build(line('{"broken json'), src, 'now');
  assert.equal(r3.message, '{"broken json');
  // A cut in the middle of a multi-byte character is trimmed back, not turned into invalid UTF-8.
  const cut = Buffer.from('héé').subarray(0, 4);
  const r4 = b.build(line(cut, 100), src, 'now');
  assert.equal(r4.truncated, true);
  assert.equal(r4.rawBase64, undefined);
  assert.match(r4.message, /^hé…\[truncated 100 bytes\]$/);
  const r5 = b.build(line('2026-01-01 WARN low disk'), src, 'now');
  assert.equal(r5.level, 'warn');
});
