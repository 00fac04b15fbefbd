import assert from 'node:assert/strict';
import { test } from 'node:test';
import { headEnd } from '../../../src/sidecar/proxy/http-syntax.js';

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
