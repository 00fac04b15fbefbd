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
  // Every other hex position shows every digit over the ids (no stuck nibble, no byte left out).
  const perPosition = Array.from({ length: 36 }, () => new Set<string>());
  for (const id of seen) for (let i = 0; i < 36; i++) perPosition[i].add(id[i]);
  for (let i = 0; i < 36; i++) if (![8, 13, 14, 18, 19, 23].includes(i)) assert.equal(perPosition[i].size, 16, `position ${i}`);
});
