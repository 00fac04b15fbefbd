// traceparent as the W3C Trace Context spec and OpenTelemetry's propagator read it: all-zero
// trace or parent ids are invalid, a later version's first four fields are used, version ff and a
// version 00 with extra fields are invalid, and `tracestate` is dropped with an invalid parent.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { noteValidTraceparent, propagateTrace, validTraceparent, validTraceparentBytes } from '../../../src/sidecar/proxy/trace.js';
import { rng } from '../../helpers/seeded-random.js';

const TRACE = '4bf92f3577b34da6a3ce929d0e0e4736';
const PARENT = '00f067aa0ba902b7';

function run(traceparent: string | string[] | undefined, tracestate?: string): { id: string; headers: Record<string, string | string[] | undefined> } {
  const headers: Record<string, string | string[] | undefined> = { traceparent, ...(tracestate !== undefined ? { tracestate } : {}) };
  return { id: propagateTrace(headers), headers };
}

test('an all-zero parent id is invalid: a new trace starts and tracestate is dropped', () => {
  const { id, headers } = run(`00-${TRACE}-0000000000000000-01`, 'vendor=x');
  assert.notEqual(id, TRACE);
  assert.equal(headers.tracestate, undefined);
});

test('an all-zero trace id is invalid', () => {
  const { id, headers } = run(`00-00000000000000000000000000000000-${PARENT}-01`, 'vendor=x');
  assert.notEqual(id, '00000000000000000000000000000000');
  assert.equal(headers.tracestate, undefined);
});

test('a future version: the first four fields are read, with or without more fields after them', () => {
  for (const given of [`cc-${TRACE}-${PARENT}-01`, `cc-${TRACE}-${PARENT}-01-what-the-future-holds`]) {
    const { id, headers } = run(given, 'vendor=x');
    assert.equal(id, TRACE, given);
    assert.match(String(headers.traceparent), new RegExp(`^00-${TRACE}-[0-9a-f]{16}-01$`));
    assert.equal(headers.tracestate, 'vendor=x', 'tracestate kept with a valid parent');
  }
});

test('invalid: version ff, version 00 with extra fields, upper case, a future version glued to a longer field, several headers', () => {
  for (const given of [`ff-${TRACE}-${PARENT}-01`, `00-${TRACE}-${PARENT}-01-extra`, `00-${TRACE.toUpperCase()}-${PARENT}-01`, `cc-${TRACE}-${PARENT}-01x`, [`00-${TRACE}-${PARENT}-01`, `00-${TRACE}-${PARENT}-01`]]) {
    const { id, headers } = run(given, 'vendor=x');
    assert.notEqual(id, TRACE, String(given));
    assert.equal(headers.tracestate, undefined, String(given));
  }
});

test('a valid version 00 keeps trace id, flags and tracestate', () => {
  const { id, headers } = run(`00-${TRACE}-${PARENT}-00`, 'vendor=x');
  assert.equal(id, TRACE);
  assert.match(String(headers.traceparent), new RegExp(`^00-${TRACE}-[0-9a-f]{16}-00$`));
  assert.equal(headers.tracestate, 'vendor=x');
});

/** The spec's grammar as a regular expression, with the same rules on top: the reference both checks are held to. */
function reference(tp: string): boolean {
  const m = /^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(-.*)?$/.exec(tp);
  return !!m && m[1] !== 'ff' && !(m[1] === '00' && m[5] !== undefined) && m[2] !== '0'.repeat(32) && m[3] !== '0'.repeat(16);
}

const VALID = [`00-${TRACE}-${PARENT}-01`, `cc-${TRACE}-${PARENT}-00-x`, `ff-${TRACE}-${PARENT}-01`, `00-${'0'.repeat(32)}-${PARENT}-01`, `01-${TRACE}-${'0'.repeat(16)}-03`, `00-${'0'.repeat(31)}1-${'0'.repeat(15)}1-01`];

/** One of VALID after up to two edits with `alphabet`'s characters: one changed, inserted or deleted, or a tail added. */
function mutated(random: () => number, alphabet: readonly string[]): string {
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(random() * xs.length)];
  let tp = pick(VALID);
  const edits = Math.floor(random() * 3);
  for (let e = 0; e < edits; e++) {
    const at = Math.floor(random() * (tp.length + 1));
    const op = Math.floor(random() * 4);
    if (op === 0) tp = tp.slice(0, at) + pick(alphabet) + tp.slice(at + 1);
    else if (op === 1) tp = tp.slice(0, at) + pick(alphabet) + tp.slice(at);
    else if (op === 2) tp = tp.slice(0, at) + tp.slice(at + 1);
    else tp += `-${pick(alphabet)}${pick(alphabet)}`;
  }
  return tp;
}

test('validTraceparent reads what the W3C regular expression reads, on random and mutated input', () => {
  const random = rng(20261205);
  const alphabet = ['0', '1', '9', 'a', 'f', 'F', 'g', '-', ' ', '\n', '\r', '\u2028', '\t', 'z'];
  for (let i = 0; i < 20_000; i++) {
    const tp = mutated(random, alphabet);
    assert.equal(validTraceparent(tp), reference(tp), JSON.stringify(tp));
  }
});

test('validTraceparentBytes (the parser\'s check, 4 bytes at a time) answers as the W3C expression on random and mutated bytes', () => {
  const random = rng(20261206);
  // Bytes next to the hex ranges' edges ('/' ':' '`' 'g' '@' 'G'), upper case, and high bytes whose low 7 bits are hex digits.
  const alphabet = ['0', '9', 'a', 'f', 'F', 'A', 'g', 'G', '/', ':', '`', '@', '-', ' ', '\t', '\xb0', '\xe1', '\xff', '\x00', 'z'];
  for (let i = 0; i < 20_000; i++) {
    const tp = mutated(random, alphabet);
    // At a random place in a bigger buffer of random bytes, as a header value is in a read buffer.
    const offset = Math.floor(random() * 9);
    const buf = Buffer.alloc(offset + tp.length + Math.floor(random() * 6));
    for (let k = 0; k < buf.length; k++) buf[k] = Math.floor(random() * 256);
    buf.write(tp, offset, 'latin1');
    const dv = new DataView(buf.buffer, buf.byteOffset, buf.length);
    assert.equal(validTraceparentBytes(dv, buf, offset, offset + tp.length), reference(tp), JSON.stringify(tp));
  }
});

test('a traceparent the parser noted valid is valid for validTraceparent whatever string object carries it', () => {
  const tp = `00-${TRACE}-${PARENT}-01`;
  noteValidTraceparent(tp);
  assert.equal(validTraceparent(tp), true);
  assert.equal(validTraceparent(Buffer.from(tp).toString('latin1')), true);
  // Another value is read in full, not taken for the noted one.
  assert.equal(validTraceparent(`00-${TRACE}-${'0'.repeat(16)}-01`), false);
  assert.equal(validTraceparent(`00-${TRACE}-${PARENT}-0g`), false);
});

test('flags: sampled and random (Level 2) are passed on, the reserved bits go out as zero (W3C: "MUST be set to zero")', async () => {
  const { propagateSampled } = await import('../../../src/sidecar/proxy/spans.js');
  const cases: [string, string][] = [['00', '00'], ['01', '01'], ['02', '02'], ['03', '03'], ['ff', '03'], ['09', '01'], ['fc', '00'], ['f1', '01']];
  for (const [given, sent] of cases) {
    for (const version of ['00', 'cc']) {
      const { headers } = run(`${version}-${TRACE}-${PARENT}-${given}`);
      assert.equal(String(headers.traceparent).slice(53), sent, `${version} flags ${given}`);
      const sampled: Record<string, string | string[] | undefined> = { traceparent: `${version}-${TRACE}-${PARENT}-${given}` };
      const ctx = propagateSampled(sampled, 0);
      assert.equal(String(sampled.traceparent).slice(53), sent, `with spans on: ${version} flags ${given}`);
      assert.equal(ctx.sampled, (parseInt(given, 16) & 1) === 1);
    }
  }
});
