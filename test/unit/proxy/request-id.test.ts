import assert from 'node:assert/strict';
import { test } from 'node:test';
import { requestId } from '../../../src/sidecar/proxy/request-headers.js';

test('requestId: a version 4 UUID, every variant digit seen, no repeats', () => {
  const seen = new Set<string>();
  const variants = new Set<string>();
  for (let i = 0; i < 4000; i++) {
    const id = requestId();
    assert.match(id, /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    seen.add(id);
    variants.add(id[19]);
  }
  assert.equal(seen.size, 4000);
  assert.deepEqual([...variants].sort(), ['8', '9', 'a', 'b']);
});
