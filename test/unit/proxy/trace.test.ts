import assert from 'node:assert/strict';
import { test } from 'node:test';
import { fillIdWords, freshTraceparent, hexGroup, propagateTrace, randomHex, xoshiroWords } from '../../../src/sidecar/proxy/trace.js';

const TRACEPARENT = /^00-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$/;

test('randomHex: lower-case hex of the asked length, different each time, never all zeros', () => {
  const seen = new Set<string>();
  for (let i = 0; i < 2000; i++) {
    const a = randomHex(16);
    const b = randomHex(8);
    assert.match(a, /^[0-9a-f]{32}$/);
    assert.match(b, /^[0-9a-f]{16}$/);
    assert.doesNotMatch(a, /^0+$/);
    seen.add(a);
  }
  assert.equal(seen.size, 2000);
  // Every hex digit shows up in every position over many ids (no stuck nibble).
  const perPosition = Array.from({ length: 32 }, () => new Set<string>());
  for (const id of seen) for (let i = 0; i < 32; i++) perPosition[i].add(id[i]);
  for (const digits of perPosition) assert.equal(digits.size, 16);
});

test('fillIdWords: no all-zero 8-byte group even when the random source gives zeros for a while', () => {
  // A source answering zeros for long runs (a 2^-64 event for real): every zero group is redrawn.
  let draws = 0;
  const fill = (words: Uint32Array, at = 0, n = words.length - at): void => {
    for (let i = at; i < at + n; i++) words[i] = draws++ % 40 < 30 ? 0 : 1 + (draws % 7);
  };
  for (let round = 0; round < 50; round++) {
    const words = new Uint32Array(256);
    fillIdWords(words, fill);
    for (let i = 0; i < words.length; i += 2) assert.ok(words[i] !== 0 || words[i + 1] !== 0, `group ${i / 2} of round ${round}`);
  }
  assert.ok(draws > 256 * 50, 'zero groups were redrawn');
});

test('hexGroup: the four hex digits of every 16-bit value, as node:buffer writes them', () => {
  const out = Buffer.alloc(4);
  for (let v = 0; v < 0x10000; v++) {
    out.writeInt32LE(hexGroup(v));
    assert.equal(out.toString('latin1'), Buffer.from([v >> 8, v & 0xff]).toString('hex'));
  }
});

test('freshTraceparent: version 00, sampled, ids of every digit, never repeated', () => {
  const seen = new Set<string>();
  const perPosition = Array.from({ length: 55 }, () => new Set<string>());
  for (let i = 0; i < 3000; i++) {
    const tp = freshTraceparent();
    assert.match(tp, TRACEPARENT);
    assert.ok(tp.endsWith('-01'));
    assert.doesNotMatch(tp.slice(3, 35), /^0+$/);
    assert.doesNotMatch(tp.slice(36, 52), /^0+$/);
    seen.add(tp);
    for (let c = 0; c < 55; c++) perPosition[c].add(tp[c]);
  }
  assert.equal(seen.size, 3000);
  for (let c = 3; c < 52; c++) if (c !== 35) assert.equal(perPosition[c].size, 16, `position ${c}`);
});

test('xoshiroWords: the reference xoshiro128** outputs, word by word or in pieces', () => {
  // The reference C implementation's first outputs for the seed 1, 2, 3, 4 (and a second seed, from
  // a separate Python transcription of the reference): a wrong shift or rotation changes them.
  const cases: [[number, number, number, number], number[]][] = [
    [[1, 2, 3, 4], [11520, 0, 5927040, 70819200, 2031721883, 1637235492, 1287239034, 3734860849]],
    [[0x9e3779b9, 0x243f6a88, 0xb7e15162, 0xdeadbeef], [2463954730, 5524658, 74256371, 1905451993, 3123413897, 314453775]],
  ];
  for (const [seed, expected] of cases) {
    const whole = new Uint32Array(expected.length);
    xoshiroWords(seed)(whole);
    assert.deepEqual([...whole], expected);
    // The same stream when filled a few words at a time at offsets (fillIdWords redraws that way).
    const pieces = new Uint32Array(expected.length);
    const fill = xoshiroWords(seed);
    fill(pieces, 0, 3);
    fill(pieces, 3);
    assert.deepEqual([...pieces], expected);
  }
  assert.throws(() => xoshiroWords([0, 0, 0, 0]), /not all zeros/);
});

test('propagateTrace starts a trace when the header is absent or malformed', () => {
  for (const given of [undefined, 'garbage', '00-00000000000000000000000000000000-0000000000000001-01', ['00-a-b-01']]) {
    const headers: Record<string, string | string[] | undefined> = { traceparent: given };
    const id = propagateTrace(headers);
    assert.match(String(headers.traceparent), TRACEPARENT);
    assert.equal(String(headers.traceparent).slice(3, 35), id);
    assert.ok(String(headers.traceparent).endsWith('-01'));
  }
});

test('propagateTrace keeps the trace id and flags and gives the hop a new parent span', () => {
  const incoming = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00';
  const headers: Record<string, string | string[] | undefined> = { traceparent: incoming };
  assert.equal(propagateTrace(headers), '4bf92f3577b34da6a3ce929d0e0e4736');
  const out = String(headers.traceparent);
  assert.match(out, /^00-4bf92f3577b34da6a3ce929d0e0e4736-[0-9a-f]{16}-00$/);
  assert.notEqual(out.slice(36, 52), '00f067aa0ba902b7');
});
