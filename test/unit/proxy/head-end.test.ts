import assert from 'node:assert/strict';
import { test } from 'node:test';
import { headEnd, skipPlainWords } from '../../../src/sidecar/proxy/http-syntax.js';
import { rng } from '../../helpers/seeded-random.js';

const CRLFCRLF = Buffer.from('\r\n\r\n');

test('headEnd finds the first CRLFCRLF exactly where Buffer#indexOf does', () => {
  const fixed = ['', '\r\n\r', '\r\n\r\n', 'a\r\n\r\n', '\r\r\n\r\n', '\n\r\n\r\n', '\r\n\r\r\n\r\n', 'GET / HTTP/1.1\r\nHost: x\r\n\r\nbody\r\n\r\n', 'x\r\n\rx\r\n\r\n', '\r\n\n\r\n\r\n'];
  for (const s of fixed) assert.equal(headEnd(Buffer.from(s, 'latin1')), Buffer.from(s, 'latin1').indexOf(CRLFCRLF), JSON.stringify(s));
  // Random texts over an alphabet heavy in CR and LF: every alignment and near-miss shows up.
  const alphabet = ['\r', '\n', '\r', '\n', 'a', ':'];
  let seed = 7;
  const rand = (n: number): number => ((seed = (seed * 1103515245 + 12345) & 0x7fffffff) % n);
  for (let i = 0; i < 20000; i++) {
    let s = '';
    const len = rand(40);
    for (let j = 0; j < len; j++) s += alphabet[rand(alphabet.length)];
    const buf = Buffer.from(s, 'latin1');
    assert.equal(headEnd(buf), buf.indexOf(CRLFCRLF), JSON.stringify(s));
  }
  // A view into a larger buffer is searched from its own start.
  const big = Buffer.from('\r\n\r\nGET / HTTP/1.1\r\n\r\n', 'latin1');
  assert.equal(headEnd(big.subarray(4)), 14);
});

test('skipPlainWords skips whole 4-byte words without a control byte (< 0x20 or 0x7f) and stops at the first word holding one', () => {
  const random = rng(61206);
  // Control bytes, their neighbours, and obs-text (bytes ≥ 0x80 are allowed in values).
  const pick = [0, 9, 10, 13, 0x1f, 0x20, 0x21, 0x7e, 0x7f, 0x80, 0x81, 0xff, 0x41, 0x61];
  const isControl = (c: number): boolean => c < 0x20 || c === 0x7f;
  for (let i = 0; i < 20_000; i++) {
    const buf = Buffer.alloc(Math.floor(random() * 40));
    for (let k = 0; k < buf.length; k++) buf[k] = random() < 0.8 ? 0x20 + Math.floor(random() * 0x5f) : pick[Math.floor(random() * pick.length)];
    const from = Math.floor(random() * (buf.length + 1));
    const to = from + Math.floor(random() * (buf.length - from + 1));
    const at = skipPlainWords(new DataView(buf.buffer, buf.byteOffset, buf.length), from, to);
    // The reference: whole words from `from` while none of their bytes is a control byte.
    let want = from;
    while (want + 4 <= to && ![0, 1, 2, 3].some((d) => isControl(buf[want + d]))) want += 4;
    assert.equal(at, want, `${buf.toString('hex')} [${from}, ${to})`);
  }
});
