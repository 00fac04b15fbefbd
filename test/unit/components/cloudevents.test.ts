// CloudEvents 1.0 envelopes as Dapr's publish API builds them, checked against the spec's rules:
// required id/source/specversion/type as non-empty strings, specversion "1.0", time in RFC 3339,
// attribute names of lower-case letters and digits, data and data_base64 exclusive.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  CLOUDEVENTS_CONTENT_TYPE,
  CloudEventError,
  buildDeliveryEvent,
  buildPublishEvent,
  validateCloudEvent,
} from '../../../src/components/index.js';

const now = new Date('2026-12-05T08:00:00.000Z');
const base = { topic: 'orders', pubsubName: 'pubsub', source: 'checkout', now };
const parse = (b: Buffer): Record<string, unknown> => JSON.parse(b.toString()) as Record<string, unknown>;

test('a JSON publish becomes a CloudEvent with JSON data and Dapr extensions', () => {
  const tp = '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01';
  const out = buildPublishEvent({ ...base, data: Buffer.from('{"orderId":7}'), contentType: 'application/json', traceparent: tp, tracestate: 'k=v' });
  assert.equal(out.contentType, CLOUDEVENTS_CONTENT_TYPE);
  const ev = parse(out.body);
  assert.deepEqual(validateCloudEvent(ev), []);
  assert.equal(ev.specversion, '1.0');
  assert.equal(ev.type, 'com.dapr.event.sent');
  assert.equal(ev.source, 'checkout');
  assert.match(String(ev.id), /^[0-9a-f-]{36}$/);
  assert.equal(ev.datacontenttype, 'application/json');
  assert.deepEqual(ev.data, { orderId: 7 });
  assert.equal(ev.topic, 'orders');
  assert.equal(ev.pubsubname, 'pubsub');
  assert.equal(ev.traceparent, tp);
  assert.equal(ev.traceid, tp);
  assert.equal(ev.tracestate, 'k=v');
  assert.equal(ev.time, '2026-12-05T08:00:00.000Z');
  assert.equal(ev.data_base64, undefined);
});

test('text stays a string (text/plain when no content type is given); binary goes to data_base64', () => {
  const text = parse(buildPublishEvent({ ...base, data: Buffer.from('hello') }).body);
  assert.equal(text.datacontenttype, 'text/plain');
  assert.equal(text.data, 'hello');
  const bytes = Buffer.from([0, 1, 2, 250]);
  const bin = parse(buildPublishEvent({ ...base, data: bytes, contentType: 'application/octet-stream' }).body);
  assert.equal(bin.data, undefined);
  assert.equal(bin.data_base64, bytes.toString('base64'));
  assert.deepEqual(validateCloudEvent(bin), []);
  const empty = parse(buildPublishEvent({ ...base, data: Buffer.alloc(0), contentType: 'application/json' }).body);
  assert.equal('data' in empty, false);
});

test('two publishes get different ids', () => {
  const a = parse(buildPublishEvent({ ...base, data: Buffer.from('x') }).body);
  const b = parse(buildPublishEvent({ ...base, data: Buffer.from('x') }).body);
  assert.notEqual(a.id, b.id);
});

test('malformed JSON under application/json is refused', () => {
  assert.throws(() => buildPublishEvent({ ...base, data: Buffer.from('{nope'), contentType: 'application/json; charset=utf-8' }), CloudEventError);
});

test("metadata.ttlInSeconds adds an RFC 3339 expiration; rawPayload=true publishes the bytes as they are", () => {
  const ev = parse(buildPublishEvent({ ...base, data: Buffer.from('x'), metadata: { ttlInSeconds: '90' } }).body);
  assert.equal(ev.expiration, '2026-12-05T08:01:30.000Z');
  const raw = buildPublishEvent({ ...base, data: Buffer.from('<xml/>'), contentType: 'application/xml', metadata: { rawPayload: 'true' } });
  assert.equal(raw.body.toString(), '<xml/>');
  assert.equal(raw.contentType, 'application/xml');
});

test("the caller's own CloudEvent passes through, with routing extensions added", () => {
  const own = { specversion: '1.0', id: 'evt-1', source: 'https://example.com/orders', type: 'com.example.order.created', myext: 'a1', data: { n: 1 } };
  const ev = parse(buildPublishEvent({ ...base, data: Buffer.from(JSON.stringify(own)), contentType: 'application/cloudevents+json' }).body);
  assert.equal(ev.id, 'evt-1');
  assert.equal(ev.source, 'https://example.com/orders');
  assert.equal(ev.type, 'com.example.order.created');
  assert.equal(ev.myext, 'a1');
  assert.deepEqual(ev.data, { n: 1 });
  assert.equal(ev.datacontenttype, 'application/json');
  assert.equal(ev.topic, 'orders');
  assert.equal(ev.pubsubname, 'pubsub');
  // missing required attributes are filled in rather than refused
  const partial = parse(buildPublishEvent({ ...base, data: Buffer.from('{"data":"x"}'), contentType: 'application/cloudevents+json' }).body);
  assert.deepEqual(validateCloudEvent(partial), []);
  assert.equal(partial.source, 'checkout');
});

test('a CloudEvent that breaks the spec is refused with the reason', () => {
  const bad = (obj: unknown, re: RegExp): void =>
    assert.throws(() => buildPublishEvent({ ...base, data: Buffer.from(JSON.stringify(obj)), contentType: 'application/cloudevents+json' }), re);
  bad({ specversion: '0.3', id: '1', source: 's', type: 't' }, /specversion/);
  bad({ id: '1', source: 's', type: 't', MyExt: 'x' }, /lower-case/);
  bad({ id: '1', source: 's', type: 't', my_ext: 'x' }, /lower-case/);
  bad({ id: '1', source: 's', type: 't', time: 'yesterday' }, /RFC 3339/);
  bad({ id: '1', source: 's', type: 't', data: 'a', data_base64: 'YQ==' }, /mutually exclusive/);
  bad({ id: '', source: 's', type: 't' }, /"id" is required/);
  bad([1, 2], /JSON object/);
  assert.throws(
    () => buildPublishEvent({ ...base, data: Buffer.from('not json'), contentType: 'application/cloudevents+json' }),
    CloudEventError,
  );
});

test('validateCloudEvent names every missing required attribute', () => {
  const problems = validateCloudEvent({ data: 1 });
  for (const a of ['id', 'source', 'specversion', 'type']) assert.ok(problems.some((p) => p.includes(`"${a}"`)), a);
  assert.deepEqual(validateCloudEvent({ id: '1', source: '/s', specversion: '1.0', type: 't', time: '2026-12-05T08:00:00+01:00' }), []);
});

test('delivery: a stored CloudEvent arrives as it is; a raw payload is wrapped with data_base64', () => {
  const stored = buildPublishEvent({ ...base, data: Buffer.from('{"a":1}'), contentType: 'application/json' });
  const ev = buildDeliveryEvent({ id: 'm1', data: stored.body, contentType: stored.contentType }, { topic: 'orders', pubsubName: 'pubsub' });
  assert.deepEqual(ev, parse(stored.body));
  const raw = buildDeliveryEvent({ id: 'm2', data: Buffer.from('raw bytes'), contentType: 'text/plain' }, { topic: 'orders', pubsubName: 'pubsub', now });
  assert.deepEqual(validateCloudEvent(raw), []);
  assert.equal(raw.id, 'm2');
  assert.equal(raw.data_base64, Buffer.from('raw bytes').toString('base64'));
  assert.equal(raw.topic, 'orders');
  assert.equal(raw.pubsubname, 'pubsub');
});
