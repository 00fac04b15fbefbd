// traceparent as the W3C Trace Context spec and OpenTelemetry's propagator read it: all-zero
// trace or parent ids are invalid, a later version's first four fields are used, version ff and a
// version 00 with extra fields are invalid, and `tracestate` is dropped with an invalid parent.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { propagateTrace } from '../../../src/sidecar/proxy/trace.js';

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
