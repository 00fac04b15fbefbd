// forwardH2's platform retries and HTTP/2 pool limits, in process against raw node:http2 peers (an
// "outbound proxy" here is an h2c server calling forwardH2 with a real Cluster and H2Sessions, so
// what the proxy counts — done calls, outlier records, endpoint in-flight counts, pool places — can
// be read directly). Each case was found by a review of the first version of these retries:
// - maxPendingRequests 0 refused every stream once a connection existed;
// - a route timeout during a retry's back-off charged the failed endpoint a second time;
// - a stream waiting for a place under the peer's stream limit kept that place after its client left;
// - an errno on a connection already made (a host gone unreachable mid-call) was taken for a connect
//   failure and the call, which the app had, sent to another endpoint;
// - the proxy's own 504/502 to a gRPC call was labelled grpc_status 13 (the client sees UNAVAILABLE, 14);
// - an endpoint refusing every stream (REFUSED_STREAM) made the call fail though another was healthy;
// - a body arriving during the back-off was read without flow control and lost the retry.
// And by the twenty-third session's (upstream GOAWAY):
// - a GOAWAY with the code REFUSED_STREAM made the streams at or below its last-stream-id, which the
//   app may have processed, pass for refused ones: sent again (the app got one request 5 times);
// - a stream refused for good, or refused once its body was past what is kept, was counted against
//   the endpoint as a reset (outlier detection); one refused again and again is a 503 upstream-refused.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import http2 from 'node:http2';
import { call, countingApp, deadPort, front, h2server, sleep } from './h2-forward-harness.js';

test('maxPendingRequests 0: a stream that has a place on the one connection is sent, not refused', async () => {
  const app = await countingApp();
  const f = await front([{ id: 'app', port: app.port }], { policy: { balancer: 'round_robin', connectionPool: { maxConnections: 1, maxPendingRequests: 0 } } });
  try {
    const answers: string[] = [];
    for (let i = 0; i < 3; i++) answers.push(String((await call(f.client, `/q${i}`)).status));
    assert.deepEqual(answers, ['200', '200', '200']);
  } finally {
    f.close();
    app.server.close();
  }
});

test('a route timeout while a retry backs off charges no endpoint again (nothing was in flight)', async () => {
  const [d1, d2] = [await deadPort(), await deadPort()];
  const outlierDetection = { consecutive5xxErrors: 0, consecutiveGatewayErrors: 2, interval: 10_000, baseEjectionTime: 30_000, maxEjectionPercent: 100 };
  const f = await front([{ id: 'dead1', port: d1 }, { id: 'dead2', port: d2 }], { timeout: 40, policy: { balancer: 'round_robin', outlierDetection } });
  try {
    const a = await call(f.client, '/x');
    assert.equal(a.status, 504);
    await sleep(50);
    assert.ok(!f.records.some((r) => r.endsWith(':504')), f.records.join(' '));
    assert.ok(f.eps.every((e) => !e.ejected(performance.now())), 'one call ejects nobody');
    assert.deepEqual(f.active(), [0, 0]);
    assert.equal(f.dones[0].calls, 1);
  } finally {
    f.close();
  }
});

test("a stream waiting for a place under the peer's stream limit gives its pool place back when its client leaves", async () => {
  const held: http2.ServerHttp2Stream[] = [];
  const app = await h2server(
    (s, h) => {
      if (h[':path'] === '/quick') {
        s.respond({ ':status': 200 });
        s.end('quick');
        return;
      }
      held.push(s);
    },
    { maxConcurrentStreams: 2 },
  );
  const f = await front([{ id: 'app', port: app.port }], { policy: { balancer: 'round_robin', connectionPool: { maxConnections: 1, maxPendingRequests: 1 } } });
  try {
    await call(f.client, '/quick'); // the peer's SETTINGS are known from here on
    const long = [call(f.client, '/h1'), call(f.client, '/h2')];
    await sleep(50);
    // The waiting one leaves, body unfinished; then another waits in its place instead of overflowing.
    const waiting = await call(f.client, '/waiting', { body: [Buffer.from('x')], resetAfterMs: 60 });
    assert.equal(waiting.status, 0);
    await sleep(50);
    const next = call(f.client, '/next', { resetAfterMs: 100 });
    const a = await next;
    assert.notEqual(a.reason, 'overflow', 'the place the waiting stream left was given back');
    for (const s of held.splice(0)) if (!s.destroyed) s.respond({ ':status': 200 }, { endStream: true });
    await Promise.all(long);
    await sleep(50);
    assert.deepEqual(f.active(), [0]);
  } finally {
    f.close();
    app.server.close();
  }
});

test('an errno on a connection already made (a host gone unreachable mid-call) is not a connect failure: the call is not sent again', async () => {
  let hitsA = 0;
  let hitsB = 0;
  const a = await h2server((s) => {
    s.resume();
    s.on('end', () => hitsA++); // processing, no answer yet
  });
  const b = await h2server((s) => {
    s.resume();
    s.on('end', () => {
      hitsB++;
      s.respond({ ':status': 200 });
      s.end('done by b');
    });
  });
  const f = await front([{ id: 'a', port: a.port }, { id: 'b', port: b.port }]);
  try {
    const answer = call(f.client, '/pay', { body: [Buffer.from('one payment')], grpc: true });
    await sleep(150);
    assert.equal(hitsA, 1, 'the app had the call');
    // What node does on a socket error: the session is destroyed with it.
    const sessions = (f.sessions as unknown as { pools: Map<string, { session: http2.ClientHttp2Session }[]> }).pools;
    for (const [key, list] of sessions) if (key.endsWith(`:${a.port}`)) for (const p of list) p.session.destroy(Object.assign(new Error('read EHOSTUNREACH'), { code: 'EHOSTUNREACH' }));
    const r = await answer;
    // The proxy's own 502 to a gRPC call: UNAVAILABLE, trailers-only (grpc-replies.ts).
    assert.deepEqual([r.status, r.grpcStatus, r.reason], [200, '14', 'upstream-reset']);
    assert.equal(hitsB, 0, 'never delivered a second time');
  } finally {
    f.close();
    a.server.close();
    b.server.close();
  }
});

test("the proxy's own 504 and 502 to a gRPC call are labelled UNAVAILABLE (14), as the client sees them, not INTERNAL (13); a call cut after the app's head is", async () => {
  const app = await h2server((s, h) => {
    s.resume();
    if (h[':path'] === '/slow') return;
    if (h[':path'] === '/reset-before-head') return void s.on('end', () => s.destroy(new Error('cut')));
    s.on('end', () => {
      s.respond({ ':status': 200, 'content-type': 'application/grpc' });
      s.write(Buffer.from([0, 0, 0, 0, 1, 7]));
      setTimeout(() => s.destroy(new Error('cut')), 20);
    });
  });
  const f = await front([{ id: 'app', port: app.port }], { timeout: 100 });
  try {
    const labels: Record<string, [number, string | undefined]> = {};
    for (const path of ['/slow', '/reset-before-head', '/reset-after-head']) {
      await call(f.client, path, { body: [Buffer.from([0, 0, 0, 0, 0])], grpc: true });
      await sleep(30);
      const d = f.dones.find((x) => x.path === path)!;
      labels[path] = [d.status!, d.grpc];
    }
    assert.deepEqual(labels, { '/slow': [504, '14'], '/reset-before-head': [502, '14'], '/reset-after-head': [200, '13'] });
  } finally {
    f.close();
    app.server.close();
  }
});

test('an endpoint that refuses every stream unprocessed (REFUSED_STREAM): the call goes to another, not counted against the refuser', async () => {
  const refuser = await h2server((s) => s.close(http2.constants.NGHTTP2_REFUSED_STREAM));
  const app = await countingApp();
  const f = await front([{ id: 'refuser', port: refuser.port }, { id: 'app', port: app.port }]);
  try {
    const answers: number[] = [];
    for (let i = 0; i < 2; i++) answers.push((await call(f.client, `/r${i}`, { body: [Buffer.from('abc')], grpc: true })).status);
    assert.deepEqual(answers, [200, 200]);
    assert.deepEqual(app.delivered, [3, 3]);
    assert.ok(!f.records.some((r) => r.startsWith('refuser:')), f.records.join(' '));
  } finally {
    f.close();
    refuser.server.close();
    app.server.close();
  }
});

test('a body arriving while a retry backs off waits under flow control and is delivered whole to the next endpoint, once', async () => {
  const dead = await deadPort();
  const app = await countingApp();
  const f = await front([{ id: 'dead', port: dead }, { id: 'app', port: app.port }]);
  try {
    const body = [Buffer.alloc(100, 1), ...Array.from({ length: 10 }, (_, i) => Buffer.alloc(16 * 1024, i))];
    const a = await call(f.client, '/big', { body });
    assert.equal(a.status, 200, `${a.status} ${a.reason ?? ''} ${a.body}`);
    assert.deepEqual(app.delivered, [100 + 10 * 16 * 1024]);
    assert.deepEqual(f.active(), [0, 0]);
  } finally {
    f.close();
    app.server.close();
  }
});

test("a peer proxy's own answer to a gRPC call (trailers-only UNAVAILABLE with a not-delivered reason) is sent to another endpoint, as its 503 is", async () => {
  let hits = 0;
  const draining = await h2server((s) => {
    hits++;
    s.resume();
    s.respond({ ':status': 200, 'content-type': 'application/grpc', 'grpc-status': '14', 'grpc-message': 'instance is shutting down', 'x-berth-reason': 'draining' }, { endStream: true });
  });
  const app = await countingApp();
  const f = await front([{ id: 'draining', port: draining.port }, { id: 'app', port: app.port }]);
  try {
    for (let i = 0; i < 2; i++) {
      const a = await call(f.client, `/g${i}`, { body: [Buffer.from([0, 0, 0, 0, 0])], grpc: true });
      assert.equal(a.status, 200);
      assert.equal(a.grpcStatus, undefined, `answered by the app, not the draining peer (${a.reason ?? ''})`);
    }
    assert.equal(hits, 1, 'the draining peer was tried once, then avoided (round robin, retry elsewhere)');
    assert.deepEqual(app.delivered, [5, 5]);
  } finally {
    f.close();
    draining.server.close();
    app.server.close();
  }
});

test('an upstream stream reset with NO_ERROR before any answer is a 502 (upstream-reset), not a hang with status 0', async () => {
  const resetter = await h2server((s) => {
    s.resume();
    s.on('end', () => s.close(http2.constants.NGHTTP2_NO_ERROR));
  });
  const f = await front([{ id: 'resetter', port: resetter.port }]);
  try {
    const a = await Promise.race([call(f.client, '/x', { method: 'GET' }), sleep(2000).then(() => undefined)]);
    assert.deepEqual([a?.status, a?.reason], [502, 'upstream-reset']);
    assert.deepEqual([f.dones[0].calls, f.dones[0].status], [1, 502]);
  } finally {
    f.close();
    resetter.server.close();
  }
});

test('a GOAWAY whose error code is REFUSED_STREAM takes down a stream at or below its last-stream-id: never sent again (the app may have it), a 502', async () => {
  // node gives a GOAWAY's error code to every stream the session's end takes down, as if each were reset with it.
  const app = await h2server((s) => {
    s.resume();
    s.on('end', () => s.session!.goaway(http2.constants.NGHTTP2_REFUSED_STREAM, s.id!));
  });
  const f = await front([{ id: 'app', port: app.port }]);
  try {
    const a = await call(f.client, '/x', { method: 'GET' });
    assert.deepEqual([a.status, a.reason], [502, 'upstream-reset']);
    assert.equal(app.streams(), 1);
  } finally {
    f.close();
    app.server.close();
  }
});

test('a stream refused unprocessed again and again (RST_STREAM REFUSED_STREAM) is sent a bounded number of times, then answered 503 upstream-refused, counted against no endpoint', async () => {
  const refuser = await h2server((s) => s.close(http2.constants.NGHTTP2_REFUSED_STREAM));
  const f = await front([{ id: 'refuser', port: refuser.port }]);
  try {
    const a = await call(f.client, '/x', { method: 'POST', body: [Buffer.from('abc')] });
    assert.deepEqual([a.status, a.reason], [503, 'upstream-refused']);
    assert.ok(refuser.streams() >= 2 && refuser.streams() <= 10, `${refuser.streams()} streams`);
    assert.deepEqual(f.records, []);
  } finally {
    f.close();
    refuser.server.close();
  }
});

test('a stream refused unprocessed once its body passed what is kept (64 KiB) cannot be sent again: a 502 upstream-reset, counted against no endpoint', async () => {
  const refuser = await h2server((s) => {
    let n = 0;
    s.on('data', (d: Buffer) => {
      n += d.length;
      if (n > 70_000 && !s.closed) s.close(http2.constants.NGHTTP2_REFUSED_STREAM);
    });
  });
  const f = await front([{ id: 'refuser', port: refuser.port }]);
  try {
    const a = await call(f.client, '/x', { method: 'POST', body: [Buffer.alloc(40_000), Buffer.alloc(40_000)], gapMs: 100 });
    assert.deepEqual([a.status, a.reason], [502, 'upstream-reset']);
    assert.equal(refuser.streams(), 1);
    assert.deepEqual(f.records, []);
  } finally {
    f.close();
    refuser.server.close();
  }
});
