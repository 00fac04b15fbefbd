import assert from 'node:assert/strict';
import { test } from 'node:test';
import { NameTable } from '../../../src/sidecar/proxy/name-table.js';

const NAMES = ['host', 'age', 'content-length', 'content-type', 'x-request-id', 'traceparent', 'x-berth-snapshot', 'keep-alive', 'te-x9'];
const table = new NameTable(NAMES);

/** match() with every byte of the view readable. */
const matchIn = (t: NameTable, dv: DataView, at: number, limit: number): number => t.match(dv, at, limit, dv.byteLength);

/** A buffer holding `text` at offset `at` (other bytes random), and a DataView over all of it. */
function place(text: string | Buffer, at: number, size = 64): { dv: DataView; buf: Buffer } {
  const buf = Buffer.alloc(size);
  for (let i = 0; i < size; i++) buf[i] = Math.floor(Math.random() * 256);
  (typeof text === 'string' ? Buffer.from(text, 'latin1') : text).copy(buf, at);
  return { dv: new DataView(buf.buffer, buf.byteOffset, buf.length), buf };
}

test('NameTable: every byte of a name and its colon changed to each of the 256 values matches only for the other case of a letter', () => {
  for (const [i, name] of NAMES.entries()) {
    const pattern = Buffer.from(`${name}:`, 'latin1');
    for (let at = 0; at < 4; at++) {
      assert.equal(matchIn(table, place(pattern, at).dv, at, 64), i, `${name} at ${at}`);
    }
    for (let pos = 0; pos < pattern.length; pos++) {
      const orig = pattern[pos];
      for (let v = 0; v < 256; v++) {
        const p = Buffer.from(pattern);
        p[pos] = v;
        const sameIgnoringCase = v === orig || (orig >= 97 && orig <= 122 && v === orig - 32);
        const got = matchIn(table, place(p, 1).dv, 1, 64);
        assert.equal(got === i, sameIgnoringCase, `${name} with byte ${pos} = 0x${v.toString(16)}: ${got}`);
      }
    }
  }
});

test('NameTable: mixed case matches; unknown names, prefixes and longer names do not', () => {
  assert.equal(matchIn(table, place('Content-Length: 5', 0).dv, 0, 64), NAMES.indexOf('content-length'));
  assert.equal(matchIn(table, place('HOST: a', 3).dv, 3, 64), NAMES.indexOf('host'));
  assert.equal(matchIn(table, place('X-Request-ID:x', 2).dv, 2, 64), NAMES.indexOf('x-request-id'));
  for (const other of ['hosts: a', 'hos: a', 'content-lengthx: 1', 'content-typ: a', 'user-agent: a', 'host : a', ' host: a', 'age-x: 1']) {
    assert.equal(matchIn(table, place(other, 0).dv, 0, 64), -1, other);
  }
});

test('NameTable: the name and colon must end before the limit, and words are never read past the view', () => {
  const { dv } = place('content-type: a', 10);
  assert.equal(matchIn(table, dv, 10, 10 + 13), NAMES.indexOf('content-type'));
  assert.equal(matchIn(table, dv, 10, 10 + 12), -1, 'the colon is past the limit');
  // The name at the very end of the view: its last word would reach past the end, so no answer (the caller reads bytes).
  const end = Buffer.from('xxxhost:', 'latin1');
  const dvEnd = new DataView(end.buffer, end.byteOffset, end.length);
  assert.equal(matchIn(table, dvEnd, 3, end.length), -1);
  const fits = Buffer.from('xxxxhost:000', 'latin1');
  assert.equal(matchIn(table, new DataView(fits.buffer, fits.byteOffset, fits.length), 4, 9), NAMES.indexOf('host'));
  assert.equal(matchIn(table, dvEnd, 6, end.length), -1, 'fewer than 4 bytes left');
  // A bound short of the view's end is kept to.
  assert.equal(table.match(new DataView(fits.buffer, fits.byteOffset, fits.length), 4, 9, 11), -1);
});

test('NameTable refuses names it cannot compare by words', () => {
  assert.throws(() => new NameTable(['te']), /3 characters/);
  assert.throws(() => new NameTable(['Host']), /lower-case/);
});

test('NameTable with another terminator: whole values followed by the line\'s CR', () => {
  const values = new NameTable(['keep-alive', 'close'], '\r');
  assert.equal(matchIn(values, place('keep-alive\r\n', 0).dv, 0, 11), 0);
  assert.equal(matchIn(values, place('CLOSE\r\n', 2).dv, 2, 8), 1);
  for (const other of ['close \r', 'closed\r', 'close:', 'keep-alive,', 'clos\r']) assert.equal(matchIn(values, place(other, 0).dv, 0, other.length), -1, JSON.stringify(other));
});

test('NameTable: names that share their first 4 bytes (one slot) are each told apart', () => {
  const names = ['content-length', 'content-type', 'content-encoding', 'content-language', 'content-disposition', 'content-security-policy', 'cont'];
  const t = new NameTable(names);
  for (const [i, name] of names.entries()) {
    assert.equal(matchIn(t, place(`${name}: x`, 1).dv, 1, 64), i, name);
    assert.equal(matchIn(t, place(`${name.toUpperCase()}:x`, 2).dv, 2, 64), i, name.toUpperCase());
  }
  assert.equal(matchIn(t, place('content-typo: x', 0).dv, 0, 64), -1);
  // More names than a slot holds: refused when the table is built, not missed at match time.
  assert.throws(() => new NameTable(Array.from({ length: 9 }, (_, i) => `same-${i}`)), /share a slot/);
});
