// The limits of mirrored copies (mirror.ts): a body over MIRROR_BODY_LIMIT is dropped, copies
// collecting bodies together hold at most MIRROR_BUFFER_LIMIT, at most MAX_MIRRORS_IN_FLIGHT copies
// are out at once — copies still collecting a body (a long gRPC stream's) never count — and a copy's
// deadline is the route's timeout, or without one MIRROR_TIMEOUT_MS after its primary ended.
import { mock, test } from 'node:test';
import assert from 'node:assert/strict';
import { Pools } from '../../../src/sidecar/proxy/forward.js';
import { Mirrors, MAX_MIRRORS_IN_FLIGHT, MIRROR_BODY_LIMIT, MIRROR_BUFFER_LIMIT, MIRROR_TIMEOUT_MS, type MirrorSender } from '../../../src/sidecar/proxy/mirror.js';
import type { Cluster } from '../../../src/sidecar/proxy/cluster.js';
import type { UpstreamHandlers } from '../../../src/sidecar/proxy/upstream-client.js';

// No copy made through begin() here is sent (every body is still arriving): the cluster is never picked from.
const cluster = { name: 'shadow' } as Cluster;
const post = (length?: number) => ({ method: 'POST', url: '/', headers: length === undefined ? { 'transfer-encoding': 'chunked' } : { 'content-length': String(length) } });

/** A sender whose copies are never answered until told: `sent` has each copy's handlers and whether it was aborted. */
function holdingSender(): { send: MirrorSender; sent: { to: UpstreamHandlers; aborted: boolean }[] } {
  const sent: { to: UpstreamHandlers; aborted: boolean }[] = [];
  const send: MirrorSender = (_body, to) => {
    const one = { to, aborted: false };
    sent.push(one);
    return { abort: () => void (one.aborted = true) };
  };
  return { send, sent };
}

test('a body over the per-copy limit is dropped and gives its bytes back', () => {
  const m = new Mirrors(new Pools());
  assert.equal(m.begin(cluster, post(MIRROR_BODY_LIMIT + 1), undefined, undefined, 1000), undefined, 'declared too long: no copy');
  const copy = m.begin(cluster, post(), undefined, undefined, 1000)!;
  copy.requestBody(Buffer.alloc(MIRROR_BODY_LIMIT - 10));
  assert.deepEqual(m.load, { copies: 0, bytes: MIRROR_BODY_LIMIT - 10 });
  copy.requestBody(Buffer.alloc(11));
  assert.deepEqual(m.load, { copies: 0, bytes: 0 }, 'dropped: nothing held');
  copy.requestBody(Buffer.alloc(5));
  copy.requestEnd();
  copy.primaryDone();
  assert.deepEqual(m.load, { copies: 0, bytes: 0 }, 'a dropped copy stays dropped');
});

test('a message with a content coding (`gzip, chunked`) is not copied: the copy would carry it as a plain body', () => {
  const m = new Mirrors(new Pools());
  assert.equal(m.begin(cluster, { method: 'POST', url: '/', headers: { 'transfer-encoding': 'gzip, chunked' } }, undefined, undefined, 1000), undefined);
  assert.ok(m.begin(cluster, { method: 'POST', url: '/', headers: { 'transfer-encoding': 'Chunked' } }, undefined, undefined, 1000));
});

test('copies together hold at most the shared limit; a primary that ended early frees its copy', () => {
  const m = new Mirrors(new Pools());
  const n = MIRROR_BUFFER_LIMIT / MIRROR_BODY_LIMIT;
  const copies = Array.from({ length: n }, () => m.begin(cluster, post(), undefined, undefined, 1000)!);
  for (const c of copies) c.requestBody(Buffer.alloc(MIRROR_BODY_LIMIT));
  assert.deepEqual(m.load, { copies: 0, bytes: MIRROR_BUFFER_LIMIT });
  assert.equal(m.begin(cluster, post(10), undefined, undefined, 1000), undefined, 'a declared body that does not fit: no copy');
  const late = m.begin(cluster, post(), undefined, undefined, 1000)!;
  late.requestBody(Buffer.alloc(1));
  assert.deepEqual(m.load, { copies: 0, bytes: MIRROR_BUFFER_LIMIT }, 'the late copy was dropped');
  for (const c of copies) c.primaryDone();
  assert.deepEqual(m.load, { copies: 0, bytes: 0 });
});

test('at most MAX_MIRRORS_IN_FLIGHT copies are out; copies still collecting a body take no place', () => {
  const m = new Mirrors(new Pools());
  const { send, sent } = holdingSender();
  // Long streams still sending: they hold no place (they used to turn mirroring off for the whole proxy).
  const streaming = Array.from({ length: MAX_MIRRORS_IN_FLIGHT * 2 }, () => m.start(true, NaN, send, undefined, undefined));
  assert.ok(streaming.every(Boolean));
  const bodiless = Array.from({ length: MAX_MIRRORS_IN_FLIGHT }, () => m.start(false, NaN, send, undefined, undefined));
  assert.ok(bodiless.every(Boolean), 'bodiless copies go out while other copies collect');
  assert.equal(m.load.copies, MAX_MIRRORS_IN_FLIGHT);
  assert.equal(m.start(false, NaN, send, undefined, undefined), undefined, 'one more than the limit is not sent');
  streaming[0]!.requestEnd();
  assert.equal(sent.length, MAX_MIRRORS_IN_FLIGHT, 'a body copy over the limit is not sent either');
  sent[0].to.onEnd();
  assert.ok(m.start(false, NaN, send, undefined, undefined), 'an answered copy gives its place back');
  assert.equal(m.load.copies, MAX_MIRRORS_IN_FLIGHT);
});

test("a copy's deadline: the route's timeout from its sending, or without one MIRROR_TIMEOUT_MS after the primary ended", () => {
  mock.timers.enable({ apis: ['setTimeout'] });
  try {
    const m = new Mirrors(new Pools());
    const { send, sent } = holdingSender();
    m.start(false, NaN, send, undefined, 100);
    const untimed = m.start(false, NaN, send, undefined, undefined)!;
    mock.timers.tick(100);
    assert.deepEqual(
      sent.map((s) => s.aborted),
      [true, false],
      "the route's timeout cuts its copy",
    );
    // A long stream (no route timeout): its copy runs as long as the primary does.
    mock.timers.tick(10 * MIRROR_TIMEOUT_MS);
    assert.equal(sent[1].aborted, false, 'cut while its primary still ran');
    untimed.primaryDone();
    mock.timers.tick(MIRROR_TIMEOUT_MS - 1);
    assert.equal(sent[1].aborted, false);
    mock.timers.tick(1);
    assert.equal(sent[1].aborted, true, 'MIRROR_TIMEOUT_MS after the primary ended');
  } finally {
    mock.timers.reset();
  }
});
