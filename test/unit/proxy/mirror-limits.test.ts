// The limits of mirrored copies (mirror.ts): a body over MIRROR_BODY_LIMIT is dropped, copies
// collecting bodies together hold at most MIRROR_BUFFER_LIMIT, at most MAX_MIRRORS_IN_FLIGHT wait at
// once, and a copy whose primary ended before its body did gives back what it held.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Pools } from '../../../src/sidecar/proxy/forward.js';
import { Mirrors, MAX_MIRRORS_IN_FLIGHT, MIRROR_BODY_LIMIT, MIRROR_BUFFER_LIMIT } from '../../../src/sidecar/proxy/mirror.js';
import type { Cluster } from '../../../src/sidecar/proxy/cluster.js';

// No copy here is sent (every body is still arriving): the cluster is never picked from.
const cluster = { name: 'shadow' } as Cluster;
const post = (length?: number) => ({ method: 'POST', url: '/', headers: length === undefined ? { 'transfer-encoding': 'chunked' } : { 'content-length': String(length) } });

test('a body over the per-copy limit is dropped and gives its bytes back', () => {
  const m = new Mirrors(new Pools());
  assert.equal(m.begin(cluster, post(MIRROR_BODY_LIMIT + 1), undefined, 1000), undefined, 'declared too long: no copy');
  const copy = m.begin(cluster, post(), undefined, 1000)!;
  copy.requestBody(Buffer.alloc(MIRROR_BODY_LIMIT - 10));
  assert.deepEqual(m.load, { copies: 1, bytes: MIRROR_BODY_LIMIT - 10 });
  copy.requestBody(Buffer.alloc(11));
  assert.deepEqual(m.load, { copies: 0, bytes: 0 }, 'dropped: nothing held, no copy counted');
  copy.requestBody(Buffer.alloc(5));
  copy.requestEnd();
  copy.primaryDone();
  assert.deepEqual(m.load, { copies: 0, bytes: 0 }, 'a dropped copy stays dropped');
});

test('copies together hold at most the shared limit; a primary that ended early frees its copy', () => {
  const m = new Mirrors(new Pools());
  const n = MIRROR_BUFFER_LIMIT / MIRROR_BODY_LIMIT;
  const copies = Array.from({ length: n }, () => m.begin(cluster, post(), undefined, 1000)!);
  for (const c of copies) c.requestBody(Buffer.alloc(MIRROR_BODY_LIMIT));
  assert.deepEqual(m.load, { copies: n, bytes: MIRROR_BUFFER_LIMIT });
  assert.equal(m.begin(cluster, post(10), undefined, 1000), undefined, 'a declared body that does not fit: no copy');
  const late = m.begin(cluster, post(), undefined, 1000)!;
  late.requestBody(Buffer.alloc(1));
  assert.deepEqual(m.load, { copies: n, bytes: MIRROR_BUFFER_LIMIT }, 'the late copy was dropped');
  for (const c of copies) c.primaryDone();
  assert.deepEqual(m.load, { copies: 0, bytes: 0 });
});

test('at most MAX_MIRRORS_IN_FLIGHT copies wait at once', () => {
  const m = new Mirrors(new Pools());
  const copies = Array.from({ length: MAX_MIRRORS_IN_FLIGHT }, () => m.begin(cluster, post(), undefined, 1000));
  assert.ok(copies.every(Boolean));
  assert.equal(m.begin(cluster, post(), undefined, 1000), undefined);
  copies[0]!.primaryDone();
  assert.ok(m.begin(cluster, post(), undefined, 1000));
});
