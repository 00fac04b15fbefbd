// The building-block API is served by the proxy's lean HTTP/1.1 path, as the mesh's own ports are:
// service invocation hands the mesh the lean request itself (node:http's IncomingMessage and
// ServerResponse per request cost the caller's proxy ~50 µs of CPU more than a plain mesh call).
// Bodies, the body limit (413, then the connection closes) and long-kept client connections
// still behave as they did on node:http.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import net from 'node:net';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startDaprApi, type DaprApi } from '../../../src/sidecar/proxy/dapr/index.js';
import type { ProxyRequest, ProxyResponse } from '../../../src/sidecar/proxy/listener.js';
import type { DaprProxyConfig } from '../../../src/lib/dapr-config.js';

async function freePort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as net.AddressInfo).port;
  await new Promise((r) => s.close(r));
  return port;
}

interface Answer {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

function request(port: number, method: string, path: string, body?: string, agent?: http.Agent): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const headers = body === undefined ? {} : { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) };
    const req = http.request({ host: '127.0.0.1', port, method, path, headers, ...(agent ? { agent } : {}) }, (res) => {
      let b = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (b += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: b }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

async function withApi(fn: (port: number, invoked: { req: ProxyRequest; service: string }[]) => Promise<void>): Promise<void> {
  const stateDir = mkdtempSync(join(tmpdir(), 'berth-dapr-lean-'));
  const port = await freePort();
  const cfg: DaprProxyConfig = {
    appId: 'caller',
    apiToken: false,
    maxRequestBodyMiB: 1,
    components: [{ name: 'statestore', type: 'state.in-memory', version: 'v1', metadata: {}, secretKeyRefs: {}, scopes: [], ignoreErrors: false }],
    subscriptions: [],
    apps: { target: 'target' },
    baseDir: stateDir,
  };
  const invoked: { req: ProxyRequest; service: string }[] = [];
  let api: DaprApi | undefined;
  try {
    api = await startDaprApi({
      cfg,
      port,
      stateDir,
      instance: 'caller-1',
      app: () => ({ host: '127.0.0.1', port: 1 }),
      log: () => {},
      mesh: (service: string, req: ProxyRequest, res: ProxyResponse) => {
        invoked.push({ req, service });
        const text = `${service} ${req.headers.host} ${req.url}`;
        res.writeHead(200, { 'content-type': 'text/plain', 'content-length': Buffer.byteLength(text) });
        res.end(text);
      },
    });
    // The listener binds as the proxy's listeners do (with retries): wait until it answers.
    for (let i = 0; i < 100; i++) {
      if (await request(port, 'GET', '/v1.0/healthz').then((a) => a.status === 204, () => false)) break;
      await new Promise((r) => setTimeout(r, 20));
    }
    await fn(port, invoked);
  } finally {
    await api?.close();
    rmSync(stateDir, { recursive: true, force: true });
  }
}

test('service invocation hands the mesh the lean request, not a node:http IncomingMessage', async () => {
  await withApi(async (port, invoked) => {
    const a = await request(port, 'GET', '/v1.0/invoke/target/method/orders/7?x=1');
    assert.equal(a.status, 200);
    assert.equal(a.body, 'target target /orders/7?x=1');
    assert.equal(invoked.length, 1);
    assert.equal(invoked[0].req instanceof http.IncomingMessage, false, 'the API request went through node:http');
  });
});

test('state save and get with bodies, a bodiless POST, and the body limit on the lean path', async () => {
  await withApi(async (port) => {
    assert.equal((await request(port, 'POST', '/v1.0/state/statestore', '[{"key":"k","value":{"n":1}}]')).status, 204);
    const got = await request(port, 'GET', '/v1.0/state/statestore/k');
    assert.equal(got.status, 200);
    assert.deepEqual(JSON.parse(got.body), { n: 1 });
    assert.ok(got.headers.etag);
    // A POST without a body is a malformed save (400), not a hung request.
    const empty = await request(port, 'POST', '/v1.0/state/statestore');
    assert.equal(empty.status, 400);
    assert.equal((JSON.parse(empty.body) as { errorCode: string }).errorCode, 'ERR_MALFORMED_REQUEST');
    const big = await request(port, 'POST', '/v1.0/state/statestore', `[{"key":"k","value":"${'x'.repeat(1024 * 1024 + 10)}"}]`);
    assert.equal(big.status, 413);
    assert.equal(big.headers.connection, 'close');
  });
});

test("a client's kept-alive connection outlives node:http's 5 s keep-alive", { timeout: 20_000 }, async () => {
  await withApi(async (port) => {
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    try {
      let sockets = 0;
      const onSocket = (): void => void sockets++;
      const first = http.request({ host: '127.0.0.1', port, path: '/v1.0/healthz', agent });
      first.on('socket', onSocket);
      await new Promise<void>((resolve, reject) => {
        first.on('response', (r) => {
          r.resume();
          r.on('end', resolve);
        });
        first.on('error', reject);
        first.end();
      });
      await new Promise((r) => setTimeout(r, 6500));
      const reused = await new Promise<boolean>((resolve, reject) => {
        const second = http.request({ host: '127.0.0.1', port, path: '/v1.0/healthz', agent }, (r) => {
          r.resume();
          r.on('end', () => resolve(second.reusedSocket));
        });
        second.on('error', reject);
        second.end();
      });
      assert.equal(reused, true, 'the server closed the idle connection');
      assert.equal(sockets, 1);
    } finally {
      agent.destroy();
    }
  });
});

test('app ids are looked up among the application\'s own (constructor, __proto__, toString are no apps); a // target is a path', async () => {
  await withApi(async (port, invoked) => {
    for (const id of ['constructor', '__proto__', 'toString', 'hasOwnProperty']) {
      const a = await request(port, 'GET', `/v1.0/invoke/${id}/method/x`);
      assert.equal(a.status, 500, `${id}: ${a.body}`);
      assert.equal((JSON.parse(a.body) as { errorCode: string }).errorCode, 'ERR_DIRECT_INVOKE', a.body);
    }
    assert.equal(invoked.length, 0);
    const meta = await request(port, 'GET', '//v1.0/metadata');
    assert.ok(meta.status >= 400 && meta.status < 500, `//v1.0/metadata: ${meta.status} ${meta.body}`);
  });
});
