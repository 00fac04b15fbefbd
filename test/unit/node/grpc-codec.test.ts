// Unit tests: the hand-written protobuf framing of grpc.health.v1 Check.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { decodeHealthCheckResponse, encodeHealthCheckRequest } from '../../../src/node/probes/grpc-probe.js';

test('encodes HealthCheckRequest with and without a service', () => {
  assert.deepEqual([...encodeHealthCheckRequest('')], [0, 0, 0, 0, 0]);
  assert.deepEqual([...encodeHealthCheckRequest('ab')], [0, 0, 0, 0, 4, 0x0a, 2, 0x61, 0x62]);
});

test('decodes HealthCheckResponse status', () => {
  assert.equal(decodeHealthCheckResponse(Buffer.from([0, 0, 0, 0, 2, 0x08, 1])), 1);
  assert.equal(decodeHealthCheckResponse(Buffer.from([0, 0, 0, 0, 2, 0x08, 2])), 2);
  assert.equal(decodeHealthCheckResponse(Buffer.from([0, 0, 0, 0, 0])), 0, 'absent field = UNKNOWN');
  assert.equal(decodeHealthCheckResponse(Buffer.from([0, 0, 0, 0, 5, 0x12, 1, 0x78, 0x08, 1])), 1, 'skips unknown fields');
  assert.equal(decodeHealthCheckResponse(Buffer.from([0, 0, 0, 0, 9])), undefined, 'truncated');
  assert.equal(decodeHealthCheckResponse(Buffer.from([1, 0, 0, 0, 0])), undefined, 'compressed not supported');
});
