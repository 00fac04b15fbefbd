// The HTTP probe against a real server: status semantics (200–399 ok), a kept-alive connection reused
// across frequent checks, a connection the server closed between checks retried on a fresh one (no
// false failure), a big body not read whole, and a dead server failing the check.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { HttpProbe } from '../../../src/node/probes/http-probe.js';

async function server(handler: http.RequestListener, opts: http.ServerOptions = {}) {
  const s = http.createServer(opts, handler);
  let connections = 0;
  s.on('connection', () => connections++);
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  return {
    port: (s.address() as AddressInfo).port,
    connections: () => connections,
    close: () => new Promise<void>((r) => {
      s.closeAllConnections();
      s.close(() => r());
    }),
  };
}

const probeOf = (port: number, path = '/healthz', keepAlive = true) => new HttpProbe({ host: '127.0.0.1', port, path, scheme: 'http', headers: [] }, { keepAlive });

test('status 200–399 passes, 400+ fails; a kept-alive probe reuses one connection', async () => {
  const srv = await server((req, res) => {
    res.statusCode = req.url === '/bad' ? 503 : req.url === '/moved' ? 302 : 200;
    res.end('ok');
  });
  const probe = probeOf(srv.port);
  try {
    for (let i = 0; i < 5; i++) assert.deepEqual(await probe.check({ timeoutMs: 1000 }), { ok: true, message: 'HTTP 200' });
    assert.equal(srv.connections(), 1, 'five checks over one connection');
    assert.equal((await probeOf(srv.port, '/moved').check({ timeoutMs: 1000 })).ok, true);
    assert.deepEqual(await probeOf(srv.port, '/bad', false).check({ timeoutMs: 1000 }), { ok: false, message: 'HTTP 503' });
  } finally {
    probe.close();
    await srv.close();
  }
});

test('a connection the server closed between checks is not a failure', async () => {
  // The server drops idle connections after 50 ms; checks come 120 ms apart.
  const srv = await server((_req, res) => res.end('ok'), { keepAliveTimeout: 50 });
  const probe = probeOf(srv.port);
  try {
    for (let i = 0; i < 5; i++) {
      const r = await probe.check({ timeoutMs: 1000 });
      assert.equal(r.ok, true, r.message);
      await new Promise((res) => setTimeout(res, 120));
    }
  } finally {
    probe.close();
    await srv.close();
  }
});

test('a big body is not read to its end; a stopped server fails the check', async () => {
  const srv = await server((_req, res) => {
    res.writeHead(200);
    const chunk = Buffer.alloc(64 * 1024, 120);
    for (let i = 0; i < 64; i++) res.write(chunk); // 4 MiB
    res.end();
  });
  const probe = probeOf(srv.port);
  const r = await probe.check({ timeoutMs: 2000 });
  assert.deepEqual(r, { ok: true, message: 'HTTP 200' });
  await srv.close();
  const dead = await probe.check({ timeoutMs: 1000 });
  assert.equal(dead.ok, false);
  assert.match(dead.message, /ECONNREFUSED/);
  probe.close();
});
