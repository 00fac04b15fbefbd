// A route's `retries` on HTTP/2 streams (h2c, gRPC), in process against raw node:http2 peers. They
// were applied to HTTP/1.1 only: on HTTP/2 the policy was silently ignored, so a gRPC route with
// `retryOn: [5xx]` or a perTryTimeout behaved as if it had none. Retries apply as Envoy's: before
// anything was relayed, with the body so far in hand, to another endpoint when there is one; gRPC
// statuses (unavailable, …) when the answer carries them in its headers (trailers-only).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import http2 from 'node:http2';
import { call, countingApp, front, h2server, sleep } from './h2-forward-harness.js';
import type { RouteRetries } from '../../../src/sidecar/proxy/routes.js';
import { RESET } from '../../../src/sidecar/proxy/cluster.js';

const policy = (p: Partial<RouteRetries>): RouteRetries => ({ attempts: 2, fiveXx: false, gateway: false, connect: false, reset: false, nonIdempotent: false, grpc: new Set(), ...p });

/** An app that answers every stream, once its request ended, with `status` (and counts them). */
async function failingApp(respond: (s: http2.ServerHttp2Stream) => void) {
  let hits = 0;
  const app = await h2server((s) => {
    s.resume();
    s.on('end', () => {
      hits++;
      if (!s.destroyed) respond(s);
    });
  });
  return { ...app, hits: () => hits };
}

test('retryOn 5xx: a 503 from one endpoint is retried on another, the body sent again whole; the 503 counts against its endpoint', async () => {
  const bad = await failingApp((s) => {
    s.respond({ ':status': 503 });
    s.end('busy');
  });
  const good = await countingApp();
  const f = await front([{ id: 'bad', port: bad.port }, { id: 'good', port: good.port }], { retries: policy({ fiveXx: true, nonIdempotent: true }) });
  try {
    const a = await call(f.client, '/orders', { body: [Buffer.from('hello '), Buffer.from('world')] });
    assert.equal(a.status, 200, `${a.status} ${a.body}`);
    assert.equal(a.body, '11');
    assert.equal(bad.hits(), 1);
    assert.deepEqual(good.delivered, [11]);
    assert.deepEqual(f.records, ['bad:503', 'good:200']);
    await sleep(20);
    assert.deepEqual(f.active(), [0, 0]);
    assert.equal(f.dones[0].calls, 1);
  } finally {
    f.close();
    bad.server.close();
    good.server.close();
  }
});

test('retryOn unavailable: a trailers-only gRPC UNAVAILABLE is retried; a POST is not retried without nonIdempotent', async (t) => {
  const unavailable = (s: http2.ServerHttp2Stream): void => s.respond({ ':status': 200, 'content-type': 'application/grpc', 'grpc-status': '14', 'grpc-message': 'down' }, { endStream: true });
  const bad = await failingApp(unavailable);
  const good = await failingApp((s) => {
    s.respond({ ':status': 200, 'content-type': 'application/grpc' }, { waitForTrailers: true });
    s.on('wantTrailers', () => s.sendTrailers({ 'grpc-status': '0' }));
    s.end(Buffer.from([0, 0, 0, 0, 0]));
  });
  t.after(() => {
    bad.server.close();
    good.server.close();
  });
  const retried = await front([{ id: 'bad', port: bad.port }, { id: 'good', port: good.port }], { retries: policy({ grpc: new Set(['14']), nonIdempotent: true }) });
  try {
    const a = await call(retried.client, '/greet.Greeter/Hello', { body: [Buffer.from([0, 0, 0, 0, 0])], grpc: true });
    assert.equal(a.grpcStatus, '0');
    assert.deepEqual([bad.hits(), good.hits()], [1, 1]);
    // Outlier detection saw the UNAVAILABLE as Envoy maps it (a 503).
    assert.deepEqual(retried.records, ['bad:503', 'good:200']);
  } finally {
    retried.close();
  }
  const notAsked = await front([{ id: 'bad', port: bad.port }, { id: 'good', port: good.port }], { retries: policy({ grpc: new Set(['14']) }) });
  try {
    const a = await call(notAsked.client, '/greet.Greeter/Hello', { body: [Buffer.from([0, 0, 0, 0, 0])], grpc: true });
    assert.equal(a.grpcStatus, '14', 'a gRPC call is a POST: retried only with nonIdempotent');
    assert.deepEqual([bad.hits(), good.hits()], [2, 1]);
  } finally {
    notAsked.close();
  }
});

test('a gRPC error in the trailers (after the answer began) is never retried: the head went to the client', async () => {
  const app = await failingApp((s) => {
    s.respond({ ':status': 200, 'content-type': 'application/grpc' }, { waitForTrailers: true });
    s.on('wantTrailers', () => s.sendTrailers({ 'grpc-status': '14' }));
    s.end(Buffer.from([0, 0, 0, 0, 0]));
  });
  const f = await front([{ id: 'a', port: app.port }], { retries: policy({ grpc: new Set(['14']), nonIdempotent: true }) });
  try {
    const a = await call(f.client, '/greet.Greeter/Hello', { body: [Buffer.from([0, 0, 0, 0, 0])], grpc: true });
    assert.equal(a.grpcStatus, '14');
    assert.equal(app.hits(), 1);
  } finally {
    f.close();
    app.server.close();
  }
});

test('attempts bound the retries: with attempts 1 the second 503 is relayed', async () => {
  const bad = await failingApp((s) => {
    s.respond({ ':status': 503 });
    s.end('busy');
  });
  const f = await front([{ id: 'bad', port: bad.port }], { retries: policy({ attempts: 1, fiveXx: true }) });
  try {
    const a = await call(f.client, '/x', { method: 'GET' });
    assert.equal(a.status, 503);
    assert.equal(a.body, 'busy');
    assert.equal(bad.hits(), 2);
  } finally {
    f.close();
    bad.server.close();
  }
});

/** An app resetting every stream with `code` once its request ended, and a good one; both closed after the test. */
async function resetterAndGood(t: { after(fn: () => void): void }, code: number) {
  const resetter = await failingApp((s) => s.close(code));
  const good = await countingApp();
  t.after(() => {
    resetter.server.close();
    good.server.close();
  });
  return { resetter, good };
}

test('retryOn reset, 5xx or gateway-error (Envoy counts a reset as a 5xx): a stream reset before its answer is sent again; with connect-failure alone, a 502', async (t) => {
  const { resetter, good } = await resetterAndGood(t, http2.constants.NGHTTP2_INTERNAL_ERROR);
  let expected = 0;
  for (const on of [{ reset: true }, { fiveXx: true }, { gateway: true }]) {
    const f = await front([{ id: 'resetter', port: resetter.port }, { id: 'good', port: good.port }], { retries: policy(on) });
    try {
      // Round robin starts anywhere: the resetter is tried at most once, and the answer is good's.
      const a = await call(f.client, '/x', { method: 'GET' });
      assert.equal(a.status, 200, `${JSON.stringify(on)}: ${a.status} ${a.reason ?? ''} ${a.body}`);
      expected = resetter.hits();
    } finally {
      f.close();
    }
  }
  const off = await front([{ id: 'resetter', port: resetter.port }], { retries: policy({ connect: true }) });
  try {
    const a = await call(off.client, '/x', { method: 'GET' });
    assert.equal(a.status, 502);
    assert.equal(resetter.hits(), expected + 1);
  } finally {
    off.close();
  }
});

test('perTryTimeout: an attempt without an answer in time is given up and sent to another endpoint; the last one times out with 504', async (t) => {
  const silent = await failingApp(() => {});
  const good = await countingApp();
  t.after(() => {
    silent.server.close();
    good.server.close();
  });
  const f = await front([{ id: 'silent', port: silent.port }, { id: 'good', port: good.port }], { timeout: 3000, retries: policy({ perTryTimeout: 100, fiveXx: true }) });
  try {
    const started = performance.now();
    const a = await call(f.client, '/x', { method: 'GET' });
    assert.equal(a.status, 200, `${a.status} ${a.reason ?? ''}`);
    assert.ok(performance.now() - started < 1000, 'not held to the route timeout');
    assert.deepEqual(f.records, ['silent:504', 'good:200']);
  } finally {
    f.close();
  }
  const alone = await front([{ id: 'silent', port: silent.port }], { timeout: 3000, retries: policy({ attempts: 1, perTryTimeout: 80, reset: true }) });
  try {
    const started = performance.now();
    const a = await call(alone.client, '/x', { method: 'GET' });
    assert.equal(a.status, 504);
    assert.equal(a.reason, 'upstream-timeout');
    const took = performance.now() - started;
    assert.ok(took >= 150 && took < 1000, `two tries of 80 ms, then 504 (took ${took.toFixed(0)} ms)`);
    await sleep(20);
    assert.deepEqual(alone.active(), [0]);
  } finally {
    alone.close();
  }
  // Envoy retries a per-try timeout under reset, 5xx or gateway-error only: connect-failure alone gives one try.
  const once = await front([{ id: 'silent', port: silent.port }], { timeout: 3000, retries: policy({ attempts: 1, perTryTimeout: 80, connect: true }) });
  try {
    const started = performance.now();
    const a = await call(once.client, '/x', { method: 'GET' });
    assert.equal(a.status, 504);
    const took = performance.now() - started;
    assert.ok(took < 150, `one try of 80 ms, then 504 (took ${took.toFixed(0)} ms)`);
  } finally {
    once.close();
  }
});

test("an upload paused for a retry's back-off that ends in the proxy's own answer (the other endpoint's pool full) is read and the stream ended, not left waiting on its window", async (t) => {
  const app = (settings?: http2.Settings) =>
    h2server((s, h) => {
      s.resume();
      if (h[':path'] === '/hold') return; // never answers: takes a stream
      s.respond({ ':status': 503 }); // early, while the upload goes on
      s.end('busy');
    }, settings);
  const a = await app();
  const b = await app({ maxConcurrentStreams: 1 });
  t.after(() => {
    a.server.close();
    b.server.close();
  });
  const f = await front([{ id: 'a', port: a.port }, { id: 'b', port: b.port }], {
    policy: { balancer: 'round_robin', connectionPool: { maxConnections: 1, maxPendingRequests: 1 } },
    retries: policy({ fiveXx: true, nonIdempotent: true }),
  });
  try {
    // Round robin: a, b, a, b — b's one stream taken and one waiting: b's pool is full.
    for (let i = 0; i < 4; i++) {
      void call(f.client, '/hold', { method: 'GET', resetAfterMs: 5000 });
      await sleep(20);
    }
    const upload = call(f.client, '/up', { body: Array.from({ length: 16 }, () => Buffer.alloc(16 * 1024, 7)), gapMs: 5 });
    const answer = await Promise.race([upload, sleep(3000).then(() => undefined)]);
    assert.ok(answer, 'the client stream ended');
    assert.deepEqual([answer.status, answer.reason], [503, 'overflow']);
    assert.equal(f.dones.find((d) => d.path === '/up')?.calls, 1);
  } finally {
    f.close();
  }
});

test('retryOn reset covers a stream the upstream reset with NO_ERROR before answering', async (t) => {
  const { resetter, good } = await resetterAndGood(t, http2.constants.NGHTTP2_NO_ERROR);
  const f = await front([{ id: 'resetter', port: resetter.port }, { id: 'good', port: good.port }], { retries: policy({ reset: true }) });
  try {
    const a = await Promise.race([call(f.client, '/x', { method: 'GET' }), sleep(2000).then(() => undefined)]);
    assert.equal(a?.status, 200, 'answered by the other endpoint');
    assert.deepEqual(f.records, [`resetter:${RESET}`, 'good:200']);
  } finally {
    f.close();
  }
});
