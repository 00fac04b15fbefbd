// What a route does with a request over its whole life, against one real berth-proxy process: a
// client leaving during a fault delay or a retry's back-off, a route timeout passing while nothing is
// in flight (a retry waiting; it starts at the request's end), a per-try timeout over a stalled body, one
// weighted draw per request, mirrored copies that never answer, and an app relaying a proxy's 503.
// Each test was run against the build before its fix and failed there (a review's findings, 2026-12-06).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import net from 'node:net';
import { portBlock, waitFor } from './harness/berth.js';
import { HOST, request, startProxy, upstream, type ProxyUnderTest } from './mesh-helpers/proxy.js';
import type { MeshSnapshot } from '../../src/lib/mesh-protocol.js';

const base = portBlock(24);
const P = {
  inbound: base,
  app: base + 1,
  admin: base + 2,
  up: base + 3,
  stall: base + 4,
  dead: base + 5,
  out: { rsn: base + 6, c: base + 7, dly: base + 8, rty: base + 9, tmo: base + 10, spl: base + 11, ptt: base + 12, mir: base + 13, mh: base + 14, hb: base + 15 },
};
const ep = (id: string, port: number, variant = 'default') => ({ id, host: HOST, port, variant });

const snapshot: MeshSnapshot = {
  version: 1,
  app: 'lifecycle',
  services: [
    { name: 'self', port: P.inbound, endpoints: [ep('self-1', P.inbound)] },
    { name: 'rsn', port: 1, endpoints: [ep('self-1', P.inbound)] },
    { name: 'c', port: 2, endpoints: [ep('c-1', P.dead)] },
    { name: 'up', port: 3, endpoints: [ep('up-1', P.up)] },
    { name: 'dly', port: 4, endpoints: [] },
    { name: 'rty', port: 5, endpoints: [] },
    { name: 'tmo', port: 6, endpoints: [ep('up-1', P.up)] },
    { name: 'spl', port: 7, endpoints: [ep('v1-1', P.up, 'v1')], activation: { timeoutMs: 300 } },
    { name: 'ptt', port: 8, endpoints: [ep('stall-1', P.stall)] },
    { name: 'mir', port: 9, endpoints: [ep('up-1', P.up)] },
    { name: 'mh', port: 10, endpoints: [ep('up-1', P.up)] },
    { name: 'hb', port: 11, endpoints: [ep('up-1', P.up)] },
  ],
  config: {
    accessLog: false,
    services: {
      dly: { routes: [{ name: 'delayed', fault: { delay: { percent: 100, fixedDelay: 300 } }, concurrencyLimit: 1, to: 'up' }] },
      rty: { routes: [{ name: 'retried', retries: { attempts: 2, retryOn: ['5xx'], nonIdempotent: true }, concurrencyLimit: 1, to: 'up' }] },
      tmo: { routes: [{ name: 'timed', timeout: 100, retries: { attempts: 3, retryOn: ['5xx'], nonIdempotent: true } }] },
      spl: { routes: [{ name: 'split', to: [{ service: 'spl', variant: 'v1', weight: 50 }, { service: 'spl', variant: 'v2', weight: 50 }] }] },
      ptt: { routes: [{ name: 'per-try', retries: { attempts: 2, perTryTimeout: 200, retryOn: ['5xx', 'gateway-error'], nonIdempotent: false } }] },
      mir: { routes: [{ name: 'mirrored', mirror: { service: 'up', percent: 100 }, to: 'up' }] },
      mh: { routes: [{ name: 'mirrored-hang', mirror: { service: 'hb', percent: 100 }, to: 'up' }] },
      hb: { policy: { balancer: 'round_robin', connectionPool: { maxConnections: 4 } } },
    },
  },
} as MeshSnapshot;

describe('a route over a request\'s whole life (berth-proxy process)', () => {
  let proxy: ProxyUnderTest;
  const servers: { close(): void; closeAllConnections?(): void }[] = [];
  /** What the upstream received: "METHOD /path host body-bytes". */
  const arrivals: string[] = [];
  const saw = (path: string): string[] => arrivals.filter((a) => a.split(' ')[1] === path);
  /** Called by the upstream on /first-503 (the retry test ends its client there). */
  let onFirst503: (() => void) | undefined;
  let appPosts = 0;

  before(async () => {
    servers.push(
      await upstream(P.up, 'up', (req, res) => {
        const chunks: Buffer[] = [];
        req.on('data', (d: Buffer) => chunks.push(d));
        req.on('end', () => {
          arrivals.push(`${req.method} ${req.url} ${req.headers.host} ${Buffer.concat(chunks).length}`);
          // Mirrored copies sent to the hanging shadow get no answer.
          if (req.headers.host?.includes('-shadow') && req.url?.startsWith('/m')) return;
          if (req.url === '/hang') return;
          if (req.url === '/first-503' && saw('/first-503').length === 1) {
            res.statusCode = 503;
            res.end('busy');
            setTimeout(() => onFirst503?.(), 2);
            return;
          }
          if (req.url === '/first-503') return; // the retry: never answered
          if (req.url === '/slow-503' && saw('/slow-503').length === 1) return void setTimeout(() => ((res.statusCode = 503), res.end()), 90);
          res.end('ok');
        });
      }),
    );
    // An app relaying what its own dependency's sidecar answered, headers and all (a BFF).
    servers.push(
      await upstream(P.app, 'app', (req, res) => {
        appPosts++;
        req.resume();
        req.on('end', () => {
          http
            .get(`http://${HOST}:${P.out.c}/stock`, { agent: false }, (r) => {
              res.writeHead(r.statusCode ?? 500, r.headers);
              r.pipe(res);
            })
            .on('error', () => ((res.statusCode = 500), res.end()));
        });
      }),
    );
    // Answers a head and part of its body, then nothing.
    const stall = net.createServer((s) => {
      s.on('error', () => {});
      s.once('data', () => s.write('HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\npartial'));
    });
    await new Promise<void>((r) => stall.listen(P.stall, HOST, r));
    servers.push(stall);
    proxy = await startProxy({ id: 'self-1', inbound: P.inbound, app: P.app, admin: P.admin, outbound: P.out, snapshot });
  });
  after(() => {
    proxy?.child.kill('SIGKILL');
    for (const s of servers) {
      s.closeAllConnections?.();
      s.close();
    }
  });

  /** A request its client abandons `leaveAfterMs` after sending it. */
  function abandoned(port: number, path: string, leaveAfterMs: number, body?: string): http.ClientRequest {
    const req = http.request(`http://${HOST}:${port}${path}`, { agent: false, method: body === undefined ? 'GET' : 'POST', headers: body === undefined ? {} : { 'content-length': String(body.length) } });
    req.on('error', () => {});
    req.end(body);
    setTimeout(() => req.destroy(), leaveAfterMs);
    return req;
  }

  test('a client leaving during a fault delay: nothing is sent, and its concurrency slot is free at once', async () => {
    abandoned(P.out.dly, '/hang', 50);
    await new Promise((r) => setTimeout(r, 600));
    assert.deepEqual(saw('/hang'), [], 'the request reached the app after its client left during the delay');
    const next = await request(`http://${HOST}:${P.out.dly}/ok`);
    assert.equal(next.status, 200, `the slot is free: ${next.status} ${next.body}`);
  });

  test('a client leaving during a retry\'s back-off: the retry is not sent, and the slot is free', async () => {
    const client = abandoned(P.out.rty, '/first-503', 10_000, 'hello');
    onFirst503 = () => client.destroy();
    await new Promise((r) => setTimeout(r, 500));
    assert.equal(saw('/first-503').length, 1, `sent again after the client left: ${saw('/first-503').join(' | ')}`);
    const next = await request(`http://${HOST}:${P.out.rty}/ok`);
    assert.equal(next.status, 200, `the slot is free: ${next.status} ${next.body}`);
  });

  test("a route timeout starts at the request's end (a slow body is not cut), and passing while a retry waits: 504 then, nothing sent after", async () => {
    const sendRaw = (text: string, rest?: string, restAfterMs = 0): Promise<{ got: string; ms: number }> =>
      new Promise((resolve) => {
        const s = net.connect(P.out.tmo, HOST);
        let got = '';
        const t0 = performance.now();
        s.on('data', (d: Buffer) => (got += d.toString('latin1')));
        s.on('close', () => resolve({ got, ms: performance.now() - t0 }));
        s.on('error', () => {});
        s.write(text);
        if (rest) setTimeout(() => s.writable && s.write(rest), restAfterMs);
        setTimeout(() => s.destroy(), 2000);
      });
    // Envoy's route timeout runs from the request's end (as this proxy's HTTP/2 path): a body taking
    // 400 ms under a 100 ms timeout is delivered and answered.
    const slow = await sendRaw('POST /slow-body HTTP/1.1\r\nhost: x\r\ncontent-length: 10\r\nconnection: close\r\n\r\n12345', '67890', 400);
    assert.match(slow.got, /^HTTP\/1\.1 200 /);
    assert.equal(saw('/slow-body').length, 1);
    // The first try answers 503 at 90 ms; the retry would go at ~100 ms, past the deadline.
    const retried = await sendRaw('POST /slow-503 HTTP/1.1\r\nhost: x\r\ncontent-length: 2\r\nconnection: close\r\n\r\nhi');
    assert.match(retried.got, /^HTTP\/1\.1 504 /);
    await new Promise((r) => setTimeout(r, 200));
    assert.equal(saw('/slow-503').length, 1, `a retry was sent after the deadline: ${saw('/slow-503').join(' | ')}`);
  });

  test('a per-try timeout covers the whole answer: a stalled body is cut at it', async () => {
    const t0 = performance.now();
    const outcome = await new Promise<string>((resolve) => {
      const req = http.get(`http://${HOST}:${P.out.ptt}/x`, { agent: false }, (res) => {
        let n = 0;
        res.on('data', (d: Buffer) => (n += d.length));
        res.on('error', () => {});
        res.on('close', () => resolve(res.complete ? `answered ${res.statusCode} with ${n} bytes` : `cut after ${n} bytes`));
      });
      req.on('error', (err) => resolve(err.message));
      setTimeout(() => req.destroy(new Error('still waiting after 3 s')), 3000);
    });
    const ms = performance.now() - t0;
    assert.ok(ms < 1500, `per-try timeout 200 ms, the try went on ${ms.toFixed(0)} ms (${outcome})`);
    assert.doesNotMatch(outcome, /^answered/, 'a cut answer is not whole');
  });

  test('weighted destinations with activation: one draw per request (the destination checked is the one used)', async () => {
    const replies = await Promise.all(Array.from({ length: 40 }, () => request(`http://${HOST}:${P.out.spl}/split`).catch((e: Error) => ({ status: 0, body: e.message, headers: {} as http.IncomingHttpHeaders }))));
    const reasons = replies.map((r) => `${r.status} ${String(r.headers['x-berth-reason'] ?? '')}`);
    // v1 answers; v2 has no endpoint, so its share waits for an instance and times out (300 ms).
    assert.deepEqual(reasons.filter((r) => r.includes('no-healthy-upstream')), [], reasons.join(', '));
    assert.equal(replies.filter((r) => r.status === 200).length, 20, reasons.join(', '));
  });

  test('a chunked POST is mirrored with its body, not as an empty one', async () => {
    const before = arrivals.length;
    const answer = await new Promise<string>((resolve, reject) => {
      const req = http.request(`http://${HOST}:${P.out.mir}/orders`, { method: 'POST', agent: false, headers: { 'transfer-encoding': 'chunked' } }, (res) => {
        let b = '';
        res.on('data', (d: Buffer) => (b += d.toString()));
        res.on('end', () => resolve(b));
      });
      req.on('error', reject);
      req.end('{"item":1}');
    });
    assert.equal(answer, 'ok');
    // "-shadow" on the host name, before the port (Envoy's form: a port of "9-shadow" is refused by servers that parse it).
    await waitFor('the copy', () => arrivals.slice(before).some((a) => a.startsWith('POST /orders ') && a.includes('-shadow')), 3000);
    assert.deepEqual(arrivals.slice(before).filter((a) => a.includes('-shadow')), [`POST /orders ${HOST}-shadow:${P.out.mir} 10`], 'the copy carries the body');
  });

  test('mirrored copies that never answer take no connection real requests need, and do not pile up', async () => {
    for (let i = 0; i < 6; i++) assert.equal((await request(`http://${HOST}:${P.out.mh}/m${i}`)).status, 200);
    await waitFor('copies at the shadow', () => arrivals.filter((a) => / \/m\d+ \S*-shadow\S* /.test(a)).length >= 4, 3000);
    // The shadow's pool (maxConnections 4) is full of stuck copies; the app's own calls to it still pass.
    const own = await request(`http://${HOST}:${P.out.hb}/direct`, { timeoutMs: 3000 });
    assert.equal(own.status, 200);
  });

  test("an app's 503 carrying the proxy reason header is the app's: a POST reaches it once", async () => {
    const r = await request(`http://${HOST}:${P.out.rsn}/order`, { method: 'POST', body: 'buy 1' });
    assert.equal(r.status, 503);
    assert.equal(appPosts, 1, `the app ran the POST ${appPosts} times`);
    assert.equal(r.headers['x-berth-reason'], undefined, "the app's answer loses the reason header at its own sidecar");
  });
});
