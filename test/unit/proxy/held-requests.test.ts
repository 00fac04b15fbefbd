// HeldRequests (scale to zero's request parking) over a real HTTP server: held requests are released
// when the check says so, their bodies intact; the timeout answers 503 activation-timeout; a client
// that leaves is forgotten; activation is asked at once and again every second while requests wait.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { HeldRequests } from '../../../src/sidecar/proxy/held-requests.js';

async function withServer(timeoutMs: number, opts: { activate?: () => Promise<void> } = {}) {
  const asked: string[] = [];
  const h = new HeldRequests({
    activate: async (service) => {
      asked.push(service);
      await opts.activate?.();
    },
    log: () => {},
  });
  const hold = (req: http.IncomingMessage, res: http.ServerResponse): void =>
    h.hold(
      'back',
      {
        key: req,
        release: () => {
          let body = '';
          req.on('data', (d: Buffer) => (body += d.toString()));
          req.on('end', () => res.end(`released ${req.method} ${req.url} ${body}`));
        },
        fail: (reason, message) => {
          res.writeHead(503, { 'x-berth-reason': reason });
          res.end(message);
        },
        onClientGone: (fn) => {
          res.once('close', fn);
          return () => res.off('close', fn);
        },
      },
      timeoutMs,
    );
  const server = http.createServer(hold);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return { h, asked, url, close: () => new Promise<void>((r) => server.close(() => r())) };
}

test('held requests are released by recheck with their bodies; activation asked once for the burst', async () => {
  const s = await withServer(5000);
  try {
    const replies = [fetch(`${s.url}/a`), fetch(`${s.url}/b`, { method: 'POST', body: 'kept' })];
    // Both held (a fixed 100 ms wait failed once under a loaded test run: fetch's first use took seconds).
    for (let waited = 0; s.h.size < 2 && waited < 4000; waited += 20) await new Promise((r) => setTimeout(r, 20));
    assert.equal(s.h.size, 2);
    assert.deepEqual(s.asked, ['back'], 'one activation call for requests arriving together');
    s.h.recheck(() => false);
    assert.equal(s.h.size, 2, 'not released while the check says no');
    s.h.recheck((service) => service === 'back');
    const texts = await Promise.all(replies.map(async (r) => (await r).text()));
    assert.deepEqual(texts.sort(), ['released GET /a ', 'released POST /b kept']);
    assert.equal(s.h.size, 0);
  } finally {
    await s.close();
  }
});

test('a request still held after its timeout gets 503 activation-timeout', async () => {
  const s = await withServer(300);
  try {
    const t = performance.now();
    const r = await fetch(s.url);
    assert.equal(r.status, 503);
    assert.equal(r.headers.get('x-berth-reason'), 'activation-timeout');
    assert.ok(performance.now() - t >= 280);
    assert.equal(s.h.size, 0);
  } finally {
    await s.close();
  }
});

test('a client that goes away is forgotten; activation failures keep the request held', async () => {
  const s = await withServer(5000, { activate: () => Promise.reject(new Error('control plane down')) });
  try {
    const ac = new AbortController();
    const gone = fetch(s.url, { signal: ac.signal }).catch(() => 'aborted');
    await new Promise((r) => setTimeout(r, 100));
    assert.equal(s.h.size, 1, 'held although the activation call failed');
    ac.abort();
    assert.equal(await gone, 'aborted');
    await new Promise((r) => setTimeout(r, 100));
    assert.equal(s.h.size, 0);
  } finally {
    await s.close();
  }
});

test('while requests wait, activation is asked again every second', async () => {
  const s = await withServer(5000);
  try {
    const r = fetch(s.url);
    await new Promise((res) => setTimeout(res, 2300));
    assert.ok(s.asked.length >= 3, `asked ${s.asked.length} times`);
    s.h.failAll('draining', 'bye');
    assert.equal((await r).status, 503);
  } finally {
    await s.close();
  }
});
