// Service invocation through the building-block API as daprd does it, through two real berth-proxy
// processes (a caller with the API, a callee in front of its app). Each point failed before:
// - the whole target was normalised before the app ID and the method were read, so a method's dot
//   segments climbed out of `/v1.0/invoke/{appId}/method/`: `…/callee/method/%2e%2e/%2e%2e/caller/method/who`
//   was answered by the caller's app, `…/%2e%2e/%2e%2e/%2e%2e/metadata` by the sidecar's own API;
// - a query with `\` or `#` went through URL's parser (`it's` arrived as `it%27s`, `#1&page=2` was cut);
// - `Upgrade: h2c` (curl --http2) got 501 on every API path, and HTTP/2 with prior knowledge a 400;
// - the app never got APP_API_TOKEN as `dapr-api-token` (an app that checks it refused every
//   invocation), nor `dapr-caller-app-id` / `dapr-callee-app-id`, and a client's own caller id passed;
// - a body longer than maxRequestBodyMiB reached the app (the state and metadata APIs answered 413);
// - an invocation in flight was reset 1 s into the sidecar's drain (mesh calls get the drain's 10 s);
// - a callee that cannot be reached was answered in the mesh's format (503 text/plain), not daprd's
//   (500, `ERR_DIRECT_INVOKE` in Dapr's JSON error body, which the SDKs read).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import type { Writable } from 'node:stream';
import http2 from 'node:http2';
import net from 'node:net';
import { once } from 'node:events';
import { portBlock } from './harness/berth.js';
import { HOST, startProxy, upstream, type ProxyUnderTest } from './mesh-helpers/proxy.js';
import type { MeshSnapshot } from '../../src/lib/mesh-protocol.js';

const base = portBlock(10);
const P = { aIn: base, aApp: base + 1, aAdmin: base + 2, dapr: base + 3, aOut: base + 4, bIn: base + 5, bApp: base + 6, bAdmin: base + 7, bDapr: base + 8 };
const APP_TOKEN = 'callee-app-token';

interface Seen {
  url: string;
  headers: http.IncomingHttpHeaders;
  size: number;
}

/** One request to the caller's building-block API on a fresh connection: status, headers and body. */
function call(path: string, opts: { method?: string; headers?: Record<string, string>; body?: Buffer } = {}): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: HOST, port: P.dapr, path, method: opts.method ?? 'GET', headers: opts.headers, agent: false }, (res) => {
      let body = '';
      res.setEncoding('latin1');
      res.on('data', (d: string) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
    });
    req.on('error', reject);
    req.end(opts.body);
  });
}

/** Writes 1.5 MiB (0.5 MiB over the 1 MiB limit) in 64 KiB pieces as fast as `w` takes them, with no length declared, then ends it. */
function writeOverLimit(w: Writable): void {
  const piece = Buffer.alloc(64 * 1024, 2);
  let sent = 0;
  const more = (): void => {
    while (sent < 1.5 * 1024 * 1024) {
      sent += piece.length;
      if (!w.write(piece)) return void w.once('drain', more);
    }
    w.end();
  };
  more();
}

describe('service invocation through the building-block API (berth-proxy processes)', () => {
  const seen: Seen[] = [];
  const servers: http.Server[] = [];
  let caller: ProxyUnderTest;
  let callee: ProxyUnderTest;

  before(async () => {
    servers.push(
      await upstream(P.bApp, 'callee', (req, res) => {
        let size = 0;
        req.on('data', (d: Buffer) => (size += d.length));
        req.on('end', () => {
          seen.push({ url: req.url!, headers: req.headers, size });
          // An app's own 5xx that happens to carry x-berth-reason (relaying another service's answer).
          if (req.url === '/own-502') return void res.writeHead(502, { 'x-app': 'callee', 'x-berth-reason': 'upstream-reset' }).end('the app says 502');
          const answer = (): void => void res.writeHead(200, { 'x-app': 'callee' }).end(`callee ${req.url}`);
          if (req.url === '/slow') setTimeout(answer, 2000);
          else answer();
        });
      }),
      await upstream(P.aApp, 'caller', (_req, res) => res.writeHead(200, { 'x-app': 'caller' }).end('caller')),
    );
    const snapshot: MeshSnapshot = {
      version: 1,
      app: 'invoke-target',
      config: { accessLog: false, services: { callee: { routes: [{ name: 'no-admin', match: { path: { prefix: '/admin' } }, fault: { abort: { status: 403, percent: 100 } } }, { name: 'rest' }] } } },
      services: [
        { name: 'caller', port: 1, endpoints: [{ id: 'caller-1', host: HOST, port: P.aIn, variant: 'default' }] },
        { name: 'callee', port: 2, endpoints: [{ id: 'callee-1', host: HOST, port: P.bIn, variant: 'default' }] },
      ],
    };
    const dapr = (appId: string): string => JSON.stringify({ appId, apiToken: false, maxRequestBodyMiB: 1, components: [], subscriptions: [], apps: { caller: 'caller', callee: 'callee', ghost: 'ghost' }, baseDir: '/tmp' });
    caller = await startProxy({ id: 'caller-1', inbound: P.aIn, app: P.aApp, admin: P.aAdmin, outbound: { callee: P.aOut }, snapshot, env: { BERTH_SERVICE: 'caller', BERTH_DAPR: dapr('caller'), BERTH_DAPR_HTTP_PORT: String(P.dapr) } });
    callee = await startProxy({ id: 'callee-1', inbound: P.bIn, app: P.bApp, admin: P.bAdmin, outbound: {}, snapshot, env: { BERTH_SERVICE: 'callee', BERTH_DAPR: dapr('callee'), BERTH_DAPR_HTTP_PORT: String(P.bDapr), APP_API_TOKEN: APP_TOKEN } });
    // The API answers once the proxy has loaded it.
    for (let i = 0; i < 100; i++) {
      if ((await call('/v1.0/healthz').catch(() => ({ status: 0 }))).status === 204) break;
      await new Promise((r) => setTimeout(r, 100));
    }
  });
  after(() => {
    caller?.child.kill('SIGKILL');
    callee?.child.kill('SIGKILL');
    for (const s of servers) s.close();
  });

  test("a method's dot segments stay within the app invoked", async () => {
    for (const [path, method] of [
      ['/v1.0/invoke/callee/method/%2e%2e/%2e%2e/caller/method/who', '/caller/method/who'],
      ['/v1.0/invoke/callee/method/%2e%2e/%2e%2e/%2e%2e/metadata', '/metadata'],
      ['/v1.0/invoke/callee/method/..%2F..%2Fcaller/method/who', '/..%2F..%2Fcaller/method/who'],
    ]) {
      const r = await call(path);
      // The callee's own proxy normalises the method within the callee's paths, as for any mesh call.
      assert.deepEqual([r.status, r.headers['x-app'], r.body], [200, 'callee', `callee ${method}`], path);
    }
    // The caller's routes see the method as the callee will: a route that refuses /admin (a fault
    // abort) is not passed by `/public/%2e%2e/admin`.
    const denied = await call('/v1.0/invoke/callee/method/public/%2e%2e/admin');
    assert.equal(denied.status, 403, denied.body);
    const viaHeader = await call('/api/%2e%2e/v1.0/invoke/caller/method/who', { headers: { 'dapr-app-id': 'callee' } });
    assert.deepEqual([viaHeader.status, viaHeader.headers['x-app']], [200, 'callee'], viaHeader.body);
  });

  test('the query reaches the app as sent', async () => {
    const query = "?file=C:\\dir\\it's&expr=\"<a>\"&tag=#1&page=2";
    const r = await call(`/v1.0/invoke/callee/method/q${query}`);
    assert.equal(r.body, `callee /q${query}`);
  });

  test('`Upgrade: h2c` is ignored and the request served', async () => {
    const answer = await new Promise<string>((resolve) => {
      const s = net.connect(P.dapr, HOST);
      let got = '';
      s.on('data', (d: Buffer) => {
        got += d.toString('latin1');
        if (got.includes('callee /up')) s.destroy();
      });
      s.on('close', () => resolve(got));
      s.write('GET /v1.0/invoke/callee/method/up HTTP/1.1\r\nhost: x\r\nconnection: Upgrade, HTTP2-Settings\r\nupgrade: h2c\r\nhttp2-settings: AAMAAABkAAQAoAAAAAIAAAAA\r\n\r\n');
      setTimeout(() => s.destroy(), 3000);
    });
    assert.match(answer, /^HTTP\/1\.1 200 /, answer.slice(0, 80));
  });

  test('HTTP/2 with prior knowledge: the API and invocations are served, a body over the limit is a 413', async () => {
    const session = http2.connect(`http://${HOST}:${P.dapr}`);
    session.on('error', () => {});
    const h2call = (headers: http2.OutgoingHttpHeaders, body?: Buffer): Promise<{ status: number; body: string }> =>
      new Promise((resolve, reject) => {
        const s = session.request(headers, { endStream: body === undefined });
        let text = '';
        let status = 0;
        s.on('response', (h) => (status = Number(h[':status'])));
        s.setEncoding('latin1');
        s.on('data', (d: string) => (text += d));
        s.on('end', () => resolve({ status, body: text }));
        s.on('error', reject);
        if (body) s.end(body);
      });
    try {
      const meta = await h2call({ ':path': '/v1.0/metadata' });
      assert.equal(meta.status, 200);
      assert.equal((JSON.parse(meta.body) as { id: string }).id, 'caller');
      const inv = await h2call({ ':path': '/v1.0/invoke/callee/method/%2e%2e/h2' });
      assert.deepEqual([inv.status, inv.body], [200, 'callee /h2']);
      const big = await h2call({ ':path': '/v1.0/invoke/callee/method/h2-big', ':method': 'POST', 'content-length': String(1024 * 1024 + 1) }, Buffer.alloc(1024 * 1024 + 1));
      assert.equal(big.status, 413, big.body);
      // No length declared (HTTP/2 frames the body): counted as it streams, cut with a 413 past the limit.
      const streamed = await new Promise<number>((resolve, reject) => {
        const s = session.request({ ':path': '/v1.0/invoke/callee/method/h2-big-streamed', ':method': 'POST' });
        let status = 0;
        s.on('response', (h) => (status = Number(h[':status'])));
        s.resume();
        s.on('close', () => resolve(status));
        s.on('error', (err: NodeJS.ErrnoException) => (err.code === 'ERR_HTTP2_STREAM_ERROR' ? undefined : reject(err)));
        writeOverLimit(s);
      });
      assert.equal(streamed, 413);
      await new Promise((r) => setTimeout(r, 300));
      assert.deepEqual(seen.filter((x) => x.url.includes('h2-big-streamed')), []);
      // The session still serves.
      assert.equal((await h2call({ ':path': '/v1.0/invoke/callee/method/after' })).status, 200);
    } finally {
      session.close();
    }
  });

  test("the app gets its APP_API_TOKEN and who called it; a client's own claims are replaced", async () => {
    const r = await call('/v1.0/invoke/callee/method/who-am-i', { headers: { 'dapr-caller-app-id': 'admin-service', 'dapr-api-token': 'forged' } });
    assert.equal(r.status, 200);
    const got = seen.find((s) => s.url === '/who-am-i')!;
    assert.deepEqual([got.headers['dapr-api-token'], got.headers['dapr-caller-app-id'], got.headers['dapr-callee-app-id']], [APP_TOKEN, 'caller', 'callee']);
  });

  test('a body longer than maxRequestBodyMiB is refused with 413 and never reaches the app', async () => {
    const body = Buffer.alloc(1024 * 1024 + 1, 1);
    for (const [path, headers] of [
      ['/v1.0/invoke/callee/method/big', {}],
      ['/big-by-header', { 'dapr-app-id': 'callee' }],
    ] as const) {
      const r = await call(path, { method: 'POST', body, headers });
      assert.equal(r.status, 413, `${path}: ${r.body}`);
    }
    assert.deepEqual(seen.filter((s) => s.url.includes('big')), []);
  });

  test('a chunked body that grows past maxRequestBodyMiB is cut with a 413 and never reaches the app whole (also with Expect, or a coding before chunked: node:http serves those)', async () => {
    for (const [name, headers] of [
      ['big-chunked', {}],
      // curl sends `Expect: 100-continue` with bodies over 1 MiB; both fall back to node:http (listener.ts).
      ['big-chunked-expect', { expect: '100-continue' }],
      ['big-chunked-gzip', { 'transfer-encoding': 'gzip, chunked' }],
    ] as const) {
      const status = await new Promise<number>((resolve, reject) => {
        const req = http.request({ host: HOST, port: P.dapr, path: `/v1.0/invoke/callee/method/${name}`, method: 'POST', headers, agent: false }, (res) => {
          res.resume();
          resolve(res.statusCode ?? 0);
        });
        // The connection closes after the 413 while pieces are still being written.
        req.on('error', (err: NodeJS.ErrnoException) => (err.code === 'EPIPE' || err.code === 'ECONNRESET' ? undefined : reject(err)));
        writeOverLimit(req);
      });
      assert.equal(status, 413, name);
      await new Promise((r) => setTimeout(r, 300));
      assert.deepEqual(seen.filter((s) => s.url.endsWith(name)), [], `${name}: the app got it whole`);
    }
  });

  test("a callee the caller's sidecar cannot reach: daprd's 500 ERR_DIRECT_INVOKE, the mesh's reason kept", async () => {
    // `ghost` is an app ID of the application whose service is not in the mesh (no port, or not up yet).
    const r = await call('/v1.0/invoke/ghost/method/x');
    assert.equal(r.status, 500, r.body);
    assert.equal(r.headers['content-type'], 'application/json');
    const body = JSON.parse(r.body) as { errorCode: string; message: string };
    assert.equal(body.errorCode, 'ERR_DIRECT_INVOKE');
    assert.match(body.message, /^fail to invoke, id: ghost, err: /);
    assert.equal(r.headers['x-berth-reason'], 'unknown-service');
  });

  test("a callee whose app is down (its sidecar answers 503): daprd's 500 ERR_DIRECT_INVOKE as well", async () => {
    const app = servers[0];
    await new Promise<void>((r) => {
      app.close(() => r());
      app.closeAllConnections();
    });
    try {
      const r = await call('/v1.0/invoke/callee/method/down');
      assert.equal(r.status, 500, r.body);
      const body = JSON.parse(r.body) as { errorCode: string; message: string };
      assert.equal(body.errorCode, 'ERR_DIRECT_INVOKE');
      assert.match(body.message, /^fail to invoke, id: callee, err: /);
      assert.equal(typeof r.headers['x-berth-reason'], 'string');
    } finally {
      await new Promise<void>((r) => app.listen(P.bApp, HOST, () => r()));
    }
  });

  test("the app's own 5xx passes as the app gave it, even with an x-berth-reason of its own", async () => {
    const r = await call('/v1.0/invoke/callee/method/own-502');
    assert.deepEqual([r.status, r.body, r.headers['x-app']], [502, 'the app says 502', 'callee']);
  });

  test("an invocation in flight when the caller's sidecar stops is drained like a mesh call", async () => {
    const slow = call('/v1.0/invoke/callee/method/slow');
    await new Promise((r) => setTimeout(r, 300));
    caller.child.kill('SIGTERM');
    const r = await slow;
    assert.deepEqual([r.status, r.body], [200, 'callee /slow']);
    await once(caller.child, 'exit');
  });
});
