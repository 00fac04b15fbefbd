// `Upgrade` requests through a real berth-proxy process: they go through routing, faults, rate
// limits, header rewrites, traceparent and metrics like any request; only a 101 answer makes a
// tunnel; any other answer is a normal response (hop-by-hop headers left out) after which the
// connection closes, so bytes sent behind the request never reach the app; a real WebSocket
// handshake and echo still work, also through the peer's inbound proxy.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import http from 'node:http';
import net from 'node:net';
import { httpRequest, portBlock, waitFor } from './harness/berth.js';
import { HOST, startProxy, type ProxyUnderTest } from './mesh-helpers/proxy.js';
import type { MeshSnapshot } from '../../src/lib/mesh-protocol.js';

const base = portBlock(10);
const P = { inbound: base, app: base + 1, admin: base + 2, out: base + 3, svc: base + 4, hang: base + 5 };

const snapshot: MeshSnapshot = {
  version: 1,
  app: 'upgrade',
  services: [
    { name: 'self', port: P.svc, endpoints: [{ id: 'self-1', host: HOST, port: P.inbound, variant: 'default' }] },
    // Straight to the app: one slot, and one gateway error ejects the endpoint.
    { name: 'hang', port: P.hang, endpoints: [{ id: 'hang-1', host: HOST, port: P.app, variant: 'default' }] },
  ],
  config: {
    accessLog: false,
    services: {
      self: {
        routes: [
          { name: 'deny', match: { path: { prefix: '/deny' } }, fault: { abort: { percent: 100, status: 403 } } },
          { name: 'limited', match: { path: { prefix: '/limited' } }, rateLimit: { requestsPerSecond: 1, burst: 1 } },
          { name: 'rewrite', match: { path: { prefix: '/rewrite' } }, headers: { request: { set: { 'x-set': 'yes' }, remove: ['x-drop'] }, response: { add: { 'x-added': 'on' } } } },
          { name: 'rest' },
        ],
      },
      hang: {
        routes: [{ name: 'hang', concurrencyLimit: 1 }],
        policy: { balancer: 'round_robin', outlierDetection: { consecutive5xxErrors: 0, consecutiveGatewayErrors: 1, interval: 10, baseEjectionTime: 30_000, maxEjectionPercent: 100 } },
      },
    },
  },
};

/** What the app read on /half (it answered 101 and ended its side at once), per connection, in order. */
const uploads: Buffer[] = [];

/** The app's sockets of /hang upgrades (never answered). */
const hung: net.Socket[] = [];

/** What the app saw, per request (path → headers), including upgrade requests. */
const seen: { url: string; headers: http.IncomingHttpHeaders }[] = [];

/** An app that accepts WebSocket upgrades on /ws (handshake, then echoes bytes) and answers every other upgrade attempt with a plain 200. */
function wsApp(): Promise<http.Server> {
  const server = http.createServer((req, res) => {
    seen.push({ url: req.url ?? '', headers: req.headers });
    res.setHeader('keep-alive', 'timeout=5');
    res.end(`plain ${req.url}`);
  });
  server.on('upgrade', (req: http.IncomingMessage, socket: net.Socket) => {
    seen.push({ url: req.url ?? '', headers: req.headers });
    if (req.url === '/ws') {
      const accept = createHash('sha1').update(`${req.headers['sec-websocket-key']}258EAFA5-E914-47DA-95CA-C5AB0DC85B11`).digest('base64');
      socket.write(`HTTP/1.1 101 Switching Protocols\r\nupgrade: websocket\r\nconnection: Upgrade\r\nsec-websocket-accept: ${accept}\r\n\r\n`);
      socket.on('data', (d) => socket.write(d));
      return;
    }
    if (req.url === '/half') {
      // Nothing to say: the app ends its side after the 101 and reads the client's stream, slowly.
      socket.end('HTTP/1.1 101 Switching Protocols\r\nupgrade: websocket\r\nconnection: Upgrade\r\n\r\n');
      const got: Buffer[] = [];
      socket.on('data', (d: Buffer) => {
        got.push(d);
        socket.pause();
        setTimeout(() => socket.resume(), 2);
      });
      socket.on('end', () => uploads.push(Buffer.concat(got)));
      return;
    }
    if (req.url === '/hang') {
      // A slow app: it has not answered the handshake yet.
      socket.on('error', () => {});
      socket.on('end', () => socket.destroy());
      socket.resume();
      hung.push(socket);
      return;
    }
    if (req.url === '/ws-hop') {
      // A 101 with headers of its own hop: Connection names x-hop, and Keep-Alive.
      socket.write('HTTP/1.1 101 Switching Protocols\r\nupgrade: websocket\r\nconnection: Upgrade, x-hop\r\nx-hop: secret\r\nkeep-alive: timeout=5\r\nx-end: kept\r\n\r\n');
      socket.on('data', (d) => socket.write(d));
      return;
    }
    if (req.url === '/two-lengths') {
      socket.end('HTTP/1.1 200 OK\r\ncontent-length: 3\r\ncontent-length: 5\r\n\r\nabcde');
      return;
    }
    if (req.url === '/length-and-chunked') {
      socket.end('HTTP/1.1 200 OK\r\ncontent-length: 3\r\ntransfer-encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n');
      return;
    }
    if (req.url === '/decline-close') {
      socket.end('HTTP/1.1 200 OK\r\nconnection: close\r\n\r\ndeclined by close');
      return;
    }
    // Declines the upgrade: a normal answer, and the connection stays HTTP (keep-alive).
    const body = `declined ${req.url}`;
    socket.write(`HTTP/1.1 200 OK\r\ncontent-length: ${body.length}\r\nkeep-alive: timeout=5\r\nconnection: keep-alive\r\nx-app: yes\r\n\r\n${body}`);
    socket.on('data', (d) => {
      // A request smuggled behind the upgrade attempt would show up here.
      seen.push({ url: `raw:${d.toString('latin1').split('\r\n')[0]}`, headers: {} });
    });
  });
  return new Promise((r) => server.listen(P.app, HOST, () => r(server)));
}

/** Sends `text` on a new connection; resolves with everything received until the proxy closes it, `until` matches, or 3 s. */
function raw(port: number, text: string, until?: RegExp): Promise<{ text: string; closed: boolean }> {
  return new Promise((resolve, reject) => {
    const s = net.connect(port, HOST);
    let got = '';
    const timer = setTimeout(() => {
      s.destroy();
      resolve({ text: got, closed: false });
    }, 3000);
    s.on('data', (d) => {
      got += d.toString('latin1');
      if (until?.test(got)) {
        clearTimeout(timer);
        s.destroy();
        resolve({ text: got, closed: false });
      }
    });
    s.on('close', () => {
      clearTimeout(timer);
      resolve({ text: got, closed: true });
    });
    s.on('error', reject);
    s.write(text);
  });
}

const sha256 = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

const upgradeReq = (path: string, extra = ''): string => `GET ${path} HTTP/1.1\r\nhost: self\r\nconnection: Upgrade\r\nupgrade: websocket\r\nsec-websocket-version: 13\r\nsec-websocket-key: dGhlIHNhbXBsZSBub25jZQ==\r\n${extra}\r\n`;

describe('Upgrade requests through the mesh', () => {
  let proxy: ProxyUnderTest | undefined;
  let app: http.Server | undefined;

  before(async () => {
    app = await wsApp();
    proxy = await startProxy({ id: 'self-1', inbound: P.inbound, app: P.app, admin: P.admin, outbound: { self: P.out, hang: P.hang }, snapshot });
  });

  after(() => {
    proxy?.child.kill('SIGKILL');
    app?.close();
    app?.closeAllConnections();
  });

  test('a route that answers 403 is not bypassed by adding Upgrade: websocket', async () => {
    const before = seen.length;
    const r = await raw(P.out, upgradeReq('/deny/x'));
    assert.match(r.text, /^HTTP\/1\.1 403 /, r.text);
    assert.match(r.text, /\r\ndate: /i, 'proxy-generated answers carry Date');
    assert.equal(seen.length, before, 'the app never saw the request');
  });

  test('a 1 req/s rate limit is not bypassed by adding Upgrade: websocket', async () => {
    const first = await raw(P.out, upgradeReq('/limited'), /declined \/limited$/);
    const second = await raw(P.out, upgradeReq('/limited'), /declined \/limited$/);
    assert.match(first.text, /^HTTP\/1\.1 200 /, first.text);
    assert.match(second.text, /^HTTP\/1\.1 429 /, second.text);
  });

  test('header rewrites and traceparent apply to upgrade requests; hop-by-hop headers do not leak either way', async () => {
    const r = await raw(P.out, upgradeReq('/rewrite', 'x-drop: gone\r\nx-secret: hop\r\nconnection: x-secret\r\n'), /declined \/rewrite$/);
    assert.match(r.text, /^HTTP\/1\.1 200 /, r.text);
    const got = seen.find((s) => s.url === '/rewrite');
    assert.ok(got, 'the app saw the request');
    assert.equal(got.headers['x-set'], 'yes');
    assert.equal(got.headers['x-drop'], undefined);
    assert.equal(got.headers['x-secret'], undefined, 'a header named in Connection is not forwarded');
    assert.match(String(got.headers.traceparent), /^00-[0-9a-f]{32}-[0-9a-f]{16}-0[01]$/);
    assert.match(r.text, /\r\nx-added: on\r\n/i, 'response rewrite applied');
    assert.doesNotMatch(r.text, /\r\nkeep-alive:/i, 'hop-by-hop response headers stay at the hop');
  });

  test('a non-101 answer is a normal response and the connection stays HTTP: what follows is routed like any request, never tunnelled', async () => {
    const before = seen.length;
    // Behind the upgrade attempt, on the same connection: a request the routes deny, then one they let through.
    const r = await raw(P.out, upgradeReq('/decline') + 'GET /deny/after HTTP/1.1\r\nhost: self\r\n\r\nGET /after HTTP/1.1\r\nhost: self\r\nconnection: close\r\n\r\n');
    const answers = r.text.split(/(?=HTTP\/1\.1 \d{3} )/);
    assert.equal(answers.length, 3, r.text);
    assert.match(answers[0], /^HTTP\/1\.1 200 [^]*declined \/decline$/);
    assert.doesNotMatch(answers[0], /\r\nconnection: close\r\n/i, 'the connection stays open');
    assert.match(answers[1], /^HTTP\/1\.1 403 /, 'the denied route applies to the next request');
    assert.match(answers[2], /^HTTP\/1\.1 200 [^]*plain \/after$/);
    assert.ok(r.closed, 'closed after the request that asked for it');
    const after = seen.slice(before).map((s) => s.url);
    assert.deepEqual(after, ['/decline', '/after'], 'the app saw only what the routes let through, each as a request of its own');
  });

  test('an upgrade request with a body answered before the body ended: the rest is never parsed as requests (smuggling), the connection closes', async () => {
    const before = seen.length;
    const smuggled = 'GET /smuggled HTTP/1.1\r\nhost: self\r\nx-id: SMUG\r\n\r\n';
    const s = net.connect(P.out, HOST);
    let got = '';
    s.on('data', (d) => (got += d.toString('latin1')));
    const closed = new Promise((r) => s.once('close', r));
    s.write(upgradeReq('/decline-upload', `content-length: ${smuggled.length}\r\n`));
    // The app answers at once; the body comes after the answer.
    await waitFor('the answer', () => got.includes('declined /decline-upload'), 3000, 10);
    s.write(smuggled + 'GET /victim HTTP/1.1\r\nhost: self\r\n\r\n');
    await Promise.race([closed, new Promise((r) => setTimeout(r, 2000))]);
    s.destroy();
    assert.match(got, /^HTTP\/1\.1 200 [^]*\r\nconnection: close\r\n[^]*declined \/decline-upload$/, got);
    assert.deepEqual(seen.slice(before).map((x) => x.url).filter((u) => !u.startsWith('raw:')), ['/decline-upload'], 'nothing in the body reached the app as a request');
  });

  test('upgrade requests are routed on their normalised target: a deny route is not bypassed by dot segments, escapes or absolute-form', async () => {
    const before = seen.length;
    for (const target of ['/x/../deny/secret', '/%2e%2e/deny/secret', '/%64eny/secret', 'http://self/deny/secret']) {
      const r = await raw(P.out, upgradeReq(target));
      assert.match(r.text, /^HTTP\/1\.1 403 /, `${target}: ${r.text}`);
    }
    assert.equal(seen.length, before, 'the app never saw them');
  });

  test('a declined upgrade answers HEAD with the body framing it stands for, and an HTTP/1.0 client without keep-alive gets connection: close', async () => {
    const head = await raw(P.out, upgradeReq('/decline-head').replace(/^GET/, 'HEAD'), /\r\n\r\n/);
    assert.match(head.text, /^HTTP\/1\.1 200 [^]*\r\ncontent-length: 22\r\n/i, head.text);
    const old = await raw(P.out, upgradeReq('/decline10').replace('HTTP/1.1', 'HTTP/1.0'));
    assert.match(old.text, /^HTTP\/1\.1 200 [^]*\r\nconnection: close\r\n[^]*declined \/decline10$/, old.text);
    assert.ok(old.closed, 'closed after the answer');
  });

  test('a non-101 answer whose end is its close: the client connection closes too', async () => {
    const r = await raw(P.out, upgradeReq('/decline-close'));
    assert.match(r.text, /^HTTP\/1\.1 200 [^]*declined by close$/);
    assert.match(r.text, /\r\nconnection: close\r\n/i);
    assert.ok(r.closed);
  });

  test('a real WebSocket upgrade still works: 101, then bytes both ways (outbound → inbound → app)', async () => {
    const s = net.connect(P.out, HOST);
    try {
      let got = '';
      const wait = (pred: () => boolean): Promise<void> =>
        new Promise((resolve, reject) => {
          const timer = setTimeout(() => reject(new Error(`timeout; got ${JSON.stringify(got)}`)), 5000);
          const check = (): void => {
            if (!pred()) return;
            clearTimeout(timer);
            s.off('data', check);
            resolve();
          };
          s.on('data', check);
          check();
        });
      s.on('data', (d) => (got += d.toString('latin1')));
      s.write(upgradeReq('/ws'));
      await wait(() => got.includes('\r\n\r\n'));
      assert.match(got, /^HTTP\/1\.1 101 /);
      assert.match(got, /sec-websocket-accept: s3pPLMBiTxaQ9kYGzzhZRbK\+xOo=/i);
      got = '';
      s.write('ping-1');
      await wait(() => got === 'ping-1');
      s.write('ping-2');
      await wait(() => got === 'ping-1ping-2');
    } finally {
      s.destroy();
    }
  });

  test('a 101 keeps its hop-by-hop headers on its hop: Connection-named ones and Keep-Alive stay behind, the handshake is made again (issue 11 point 6)', async () => {
    const r = await raw(P.out, upgradeReq('/ws-hop') + 'echo-me', /echo-me$/);
    const head = r.text.slice(0, r.text.indexOf('\r\n\r\n') + 2);
    assert.match(head, /^HTTP\/1\.1 101 /, r.text);
    assert.match(head, /\r\nconnection: upgrade\r\n/i);
    assert.match(head, /\r\nupgrade: websocket\r\n/i);
    assert.match(head, /\r\nx-end: kept\r\n/i, 'end-to-end headers pass');
    assert.doesNotMatch(head, /x-hop/i, 'a header the upstream Connection names stays on its hop');
    assert.doesNotMatch(head, /\r\nkeep-alive:/i);
    assert.ok(r.text.endsWith('\r\n\r\necho-me'), 'then the tunnel carries bytes');
  });

  test('a non-101 answer to an upgrade with conflicting framing is a 502, as on the normal path (issue 11 point 7)', async () => {
    for (const path of ['/two-lengths', '/length-and-chunked']) {
      const r = await raw(P.out, upgradeReq(path));
      assert.match(r.text, /^HTTP\/1\.1 502 /, `${path}: ${r.text}`);
      assert.doesNotMatch(r.text, /abc/, `${path}: nothing of the body passes`);
    }
  });

  test('an app that ends its side after its 101 still gets the client\'s whole stream, and the tunnel closes once both ended', async () => {
    const upload = randomBytes(2 * 1024 * 1024);
    uploads.length = 0;
    const s = net.connect({ port: P.out, host: HOST, allowHalfOpen: true });
    try {
      let head = '';
      let ended = false;
      const closed = new Promise((r) => s.once('close', r));
      s.on('data', (d: Buffer) => (head += d.toString('latin1')));
      s.on('end', () => (ended = true));
      s.write(upgradeReq('/half'));
      await waitFor('the 101', () => head.includes('\r\n\r\n'), 3000, 10);
      assert.match(head, /^HTTP\/1\.1 101 /);
      s.end(upload);
      await waitFor('the app read the upload to its end', () => uploads.length > 0, 5000, 10);
      assert.equal(uploads[0].length, upload.length, 'every byte reached the app');
      assert.equal(sha256(uploads[0]), sha256(upload));
      await Promise.race([closed, new Promise((r) => setTimeout(r, 3000).unref())]);
      assert.ok(ended, 'the app\'s end reached the client');
      assert.ok(s.destroyed, 'the tunnel closed once both sides ended');
    } finally {
      s.destroy();
    }
  });

  test('declined upgrades on one kept-alive connection leave nothing behind on it (no MaxListenersExceededWarning)', async () => {
    const s = net.connect(P.out, HOST);
    try {
      let got = '';
      s.on('data', (d: Buffer) => (got += d.toString('latin1')));
      // node warns past 10 listeners of one event: each declined upgrade left a 'close' and an 'error' one.
      for (let i = 0; i < 15; i++) {
        s.write(upgradeReq(`/decline-${i}`));
        await waitFor(`answer ${i}`, () => got.endsWith(`declined /decline-${i}`), 3000, 5);
      }
      assert.equal(got.split(/(?=HTTP\/1\.1 200 )/).length, 15, 'each answered on the same connection');
      await new Promise((r) => setTimeout(r, 100));
      assert.doesNotMatch(proxy!.stderr(), /MaxListenersExceededWarning/);
    } finally {
      s.destroy();
    }
  });

  test('a client that resets before the answer is not counted against the endpoint (no outlier ejection)', async () => {
    const before = hung.length;
    const s = net.connect(P.hang, HOST, () => s.write(upgradeReq('/hang')));
    s.on('error', () => {});
    await waitFor('the app saw the upgrade', () => hung.length > before, 3000, 10);
    s.resetAndDestroy();
    await waitFor('the app\'s connection closed', () => hung[before].destroyed, 3000, 10);
    await new Promise((r) => setTimeout(r, 100));
    const metrics = (await httpRequest(`http://${HOST}:${P.admin}/metrics`)).body;
    assert.doesNotMatch(metrics, /berth_proxy_ejections_total\{destination="hang"/);
    assert.match(metrics, /berth_proxy_requests_total\{[^}]*route="hang"[^}]*code="499"\} [1-9]/);
  });

  test('a client that ends its connection (FIN) before the answer gives back its concurrency slot and the app\'s connection', async () => {
    const before = hung.length;
    const s = net.connect(P.hang, HOST, () => s.write(upgradeReq('/hang')));
    s.on('error', () => {});
    const closed = new Promise((r) => s.once('close', r));
    await waitFor('the app saw the upgrade', () => hung.length > before, 3000, 10);
    s.end();
    await waitFor('the app\'s connection closed', () => hung[before].destroyed, 3000, 10);
    await Promise.race([closed, new Promise((r) => setTimeout(r, 3000).unref())]);
    assert.ok(s.destroyed, 'the proxy closed the client\'s connection');
    // The route's only slot is free again.
    const r = await httpRequest(`http://${HOST}:${P.hang}/after-fin`);
    assert.equal(r.status, 200, r.body);
  });

  test('`Upgrade: h2c` (curl --http2) is served as a plain request: a chunked upload too, and the requests behind it', async () => {
    // Refused 400 before ("an Upgrade request with a chunked body is not supported"): `curl --http2 -T -`.
    const h2c = 'connection: Upgrade, HTTP2-Settings\r\nupgrade: h2c\r\nhttp2-settings: AAMAAABkAAQAoAAAAAIAAAAA\r\n';
    const r = await raw(P.out, `PUT /h2c-upload HTTP/1.1\r\nhost: self\r\n${h2c}transfer-encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\nGET /after-h2c HTTP/1.1\r\nhost: self\r\n\r\n`, /plain \/after-h2c/);
    assert.match(r.text, /^HTTP\/1\.1 200 [^]*plain \/h2c-upload[^]*HTTP\/1\.1 200 [^]*plain \/after-h2c$/, r.text);
    const got = seen.find((x) => x.url === '/h2c-upload');
    assert.ok(got, 'the app got the upload as a plain request');
    assert.equal(got.headers.upgrade, undefined, 'the proxy never offers h2c to the app');
    assert.equal(got.headers['http2-settings'], undefined);
    assert.equal(got.headers['transfer-encoding'], 'chunked');
  });

  test('metrics count upgrade requests by route and status', async () => {
    const metrics = (await httpRequest(`http://${HOST}:${P.admin}/metrics`)).body;
    assert.match(metrics, /berth_proxy_requests_total\{[^}]*route="deny"[^}]*code="403"\} [1-9]/);
    assert.match(metrics, /berth_proxy_requests_total\{[^}]*route="limited"[^}]*code="429"\} [1-9]/);
  });
});
