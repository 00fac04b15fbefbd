// Component metadata as Dapr reads it: names case-insensitive, Go durations or milliseconds,
// booleans in their usual spellings, clear errors naming component and field.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ComponentConfigError, MetadataReader, parseDuration } from '../../../src/components/index.js';

test('Go durations and plain milliseconds', () => {
  assert.equal(parseDuration('15s'), 15_000);
  assert.equal(parseDuration('1m30s'), 90_000);
  assert.equal(parseDuration('1h'), 3_600_000);
  assert.equal(parseDuration('250ms'), 250);
  assert.equal(parseDuration('1.5s'), 1500);
  assert.equal(parseDuration('500'), 500);
  for (const bad of ['', 's', '10 s', '-1s', '1d', 'soon']) assert.equal(parseDuration(bad), undefined, bad);
});

test('reader: case-insensitive names, typed values, errors that name the component and field', () => {
  const m = new MetadataReader({ name: 'orders-bus', metadata: { RedisHost: 'h:1', durable: 'TRUE', maxRetries: '3', ackWait: '2s', empty: '' } });
  assert.equal(m.string('redishost'), 'h:1');
  assert.equal(m.string('empty'), undefined, 'an empty value counts as unset');
  assert.equal(m.bool('durable', false), true);
  assert.equal(m.int('maxRetries', 0), 3);
  assert.equal(m.duration('ackWait', 0), 2000);
  assert.equal(m.duration('missing', 7), 7);
  const bad = new MetadataReader({ name: 'orders-bus', metadata: { durable: 'maybe', maxRetries: '2.5', ackWait: 'later' } });
  assert.throws(() => bad.bool('durable', false), (e: Error) => e instanceof ComponentConfigError && /orders-bus/.test(e.message) && /durable/.test(e.message));
  assert.throws(() => bad.int('maxRetries', 0), /integer/);
  assert.throws(() => bad.duration('ackWait', 0), /duration/);
  assert.throws(() => bad.required('natsURL'), /"natsURL" is required/);
});
