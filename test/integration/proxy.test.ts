// berth-proxy on its own: a real proxy process against tiny real upstream servers, configured from a
// saved snapshot file (what a restarted proxy serves from while the control plane is away).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { httpRequest, portBlock, repoRoot, waitFor } from './harness/berth.js';
import type { MeshSnapshot } from '../../src/lib/mesh-protocol.js';
import { HOST, request, upstream } from './mesh-helpers/proxy.js';

const proxyMain = join(repoRoot, 'dist', 'src', 'sidecar', 'proxy', 'main.js');

/** Sends raw bytes and returns the first response line (or, with `whole`, everything until the server closes). */
function raw(port: number, text: string, whole = false): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = net.connect(port, HOST, () => s.write(text));
    let buf = '';
    s.on('data', (d) => {
      buf += d.toString();
      if (!whole && buf.includes('\r\n')) {
        s.destroy();
        resolve(buf.split('\r\n')[0]);
      }
    });
    s.on('error', reject);
    s.on('close', () => resolve(whole ? buf : buf.split('\r\n')[0]));
  });
}

/** A connection to `port` whose answers are collected as they come (latin1). */
async function collecting(port: number): Promise<{ s: net.Socket; text(): string }> {
  const s = net.connect(port, HOST);
  s.on('error', () => {});
  await new Promise((r) => s.once('connect', r));
  let got = '';
  s.on('data', (d: Buffer) => (got += d.toString('latin1')));
  return { s, text: () => got };
}

describe('berth-proxy process', () => {
  const base = portBlock(10);
  const ports = { inbound: base, app: base + 1, admin: base + 2, fwd: base + 3, out: base + 4, peerA: base + 5, peerDead: base + 6 };
  const stateDir = mkdtempSync(join(tmpdir(), 'berth-proxy-'));
  const servers: http.Server[] = [];
  let proxy: ChildProcess;
  let stderr = '';
  /** Requests the app got on /count, and uploads on /stalled-upload (started, cut before their end). */
  let counted = 0;
  /** Requests the app answered with a malformed response. */
  let badAnswers = 0;
  const uploads = { started: 0, cut: 0 };
  /** Requests on /hang the proxy gave up (their connection to the app closed). */
  let hangsAbandoned = 0;

  const snapshot = (registered: boolean): MeshSnapshot => ({
    version: registered ? 2 : 1,
    app: 't',
    config: { accessLog: false },
    services: [
      { name: 'self', port: ports.inbound, endpoints: registered ? [{ id: 'self-1', host: HOST, port: ports.inbound, variant: 'default' }] : [] },
      {
        name: 'peer',
        port: 1,
        endpoints: [
          { id: 'peer-dead', host: HOST, port: ports.peerDead, variant: 'default' },
          { id: 'peer-a', host: HOST, port: ports.peerA, variant: 'default' },
        ],
      },
    ],
  });

  const start = (): ChildProcess => {
    const p = spawn(process.execPath, [proxyMain], {
      env: {
        ...process.env,
        BERTH_PROXY_MODE: 'sidecar',
        BERTH_STATE_DIR: stateDir,
        BERTH_INSTANCE: 'self-1',
        BERTH_SERVICE: 'self',
        HOST,
        BERTH_PROXY_PORT: String(ports.inbound),
        BERTH_PROXY_APP_PORT: String(ports.app),
        BERTH_PROXY_ADMIN_PORT: String(ports.admin),
        BERTH_PROXY_FORWARD_PORT: String(ports.fwd),
        BERTH_PROXY_OUTBOUND: `peer=${ports.out}`,
        BERTH_PROXY_DRAIN_SECONDS: '5',
        BERTH_PROXY_HEADERS_TIMEOUT_MS: '1000',
        // The body timeout follows the header timeout (1 s); an app holding an upload back (/slow-reader,
        // 1.5 s) is within the send timeout.
        BERTH_PROXY_SEND_TIMEOUT_MS: '10000',
      },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    p.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    return p;
  };

  before(async () => {
    mkdirSync(join(stateDir, 'mesh'), { recursive: true });
    writeFileSync(join(stateDir, 'mesh', 'self-1.json'), JSON.stringify(snapshot(false)));
    servers.push(
      await upstream(ports.app, 'app', (req, res) => {
        if (req.url === '/slow') return void setTimeout(() => res.end('slow done'), 600);
        if (req.url === '/two-lengths') {
          // A malformed answer (conflicting Content-Length), written past node:http.
          badAnswers++;
          req.socket.end('HTTP/1.1 200 OK\r\ncontent-length: 2\r\ncontent-length: 3\r\n\r\nok!');
          return;
        }
        if (req.url === '/gzip-chunked') {
          // A transfer coding before chunked, written past node:http.
          req.socket.end('HTTP/1.1 200 OK\r\ntransfer-encoding: gzip, chunked\r\n\r\n4\r\nzzzz\r\n0\r\n\r\n');
          return;
        }
        // Answers written past node:http that must not reach a client as they are (issue 11 points 2, 7, 11).
        const rawAnswers: Record<string, string> = {
          '/switch-unasked': 'HTTP/1.1 101 Switching Protocols\r\nconnection: upgrade\r\nupgrade: other\r\n\r\nswitched!',
          '/status-2004': 'HTTP/1.1 2004 Weird\r\ncontent-length: 3\r\n\r\nok!',
          '/status-200x': 'HTTP/1.1 200x\r\ncontent-length: 3\r\n\r\nok!',
          '/status-1000': 'HTTP/1.1 1000 X\r\ncontent-length: 3\r\n\r\nok!',
          '/status-bare-cr': 'HTTP/1.1 200 O\rK\r\ncontent-length: 3\r\n\r\nok!',
          '/big-head': `HTTP/1.1 200 OK\r\nx-big: ${'h'.repeat(70_000)}\r\ncontent-length: 3\r\n\r\nok!`,
        };
        if (rawAnswers[req.url!] !== undefined) {
          req.socket.end(rawAnswers[req.url!]);
          return;
        }
        if (req.url === '/no-content') {
          req.socket.end('HTTP/1.1 204 No Content\r\ncontent-length: 5\r\nx-kept: yes\r\n\r\n');
          return;
        }
        if (req.url === '/close-rst' || req.url === '/close-fin') {
          // A body delimited by the connection's close: ended by a FIN, or cut by a reset.
          req.socket.write('HTTP/1.1 200 OK\r\n\r\nhello-partial');
          setTimeout(() => (req.url === '/close-rst' ? req.socket.resetAndDestroy() : req.socket.end()), 100);
          return;
        }
        if (req.url === '/hang') {
          // Never answers: the proxy must give the request up when its client goes away.
          res.once('close', () => hangsAbandoned++);
          return;
        }
        if (req.url === '/count-pieces') {
          // How many pieces a body reaches the app in.
          let pieces = 0;
          let bytes = 0;
          req.on('data', (d: Buffer) => {
            pieces++;
            bytes += d.length;
          });
          req.on('end', () => res.end(`${pieces} ${bytes}`));
          return;
        }
        if (req.url === '/count') {
          counted++;
          return res.end(`count ${counted}`);
        }
        if (req.url === '/slow-reader') {
          // Reads nothing for 1.5 s (longer than the body timeout): the proxy's reads are held back meanwhile.
          setTimeout(() => {
            let n = 0;
            req.on('data', (d: Buffer) => (n += d.length));
            req.on('end', () => res.end(`read ${n}`));
          }, 1500);
          return;
        }
        if (req.url === '/stalled-upload') {
          uploads.started++;
          req.resume();
          req.once('close', () => void (req.complete ? undefined : uploads.cut++));
          req.once('end', () => res.end('whole'));
          return;
        }
        if (req.url === '/trace') return res.end(String(req.headers.traceparent));
        if (req.url === '/big') return res.end(Buffer.alloc(4 * 1024 * 1024, 98));
        if (req.url === '/echo') {
          let body = '';
          req.on('data', (d: Buffer) => (body += d.toString()));
          req.on('end', () => res.end(`echo ${req.headers['transfer-encoding'] ?? '-'} ${body}`));
          return;
        }
        res.end(`app ${req.method} ${req.url}`);
      }),
    );
    // An upgrade (WebSocket handshake) answered with 101, then an echo of the raw bytes.
    servers[0].on('upgrade', (req: http.IncomingMessage, socket: net.Socket, head: Buffer) => {
      socket.write(`HTTP/1.1 101 Switching Protocols\r\nupgrade: websocket\r\nconnection: Upgrade\r\nx-key: ${req.headers['sec-websocket-key']}\r\n\r\n`);
      if (head.length) socket.write(head);
      socket.pipe(socket);
    });
    servers.push(
      await upstream(ports.peerA, 'peer-a', (req, res) => {
        // Echoes the body it got, if any: a retried request must arrive whole, and once.
        let body = '';
        req.setEncoding('latin1');
        req.on('data', (d: string) => (body += d));
        req.on('end', () => res.end(`peer-a ${req.method} ${req.url}${body ? ` ${body}` : ''}`));
      }),
    );
    proxy = start();
    await waitFor('admin port', async () => (await httpRequest(`http://${HOST}:${ports.admin}/healthz`)).status === 200);
  });
  after(() => {
    proxy.kill('SIGKILL');
    for (const s of servers) s.close();
  });

  test('inbound answers 503 until its instance is registered, then forwards to the app', async () => {
    const r = await httpRequest(`http://${HOST}:${ports.inbound}/x`);
    assert.equal(r.status, 503);
    assert.match(r.body, /not ready/);
    // A restart picks up the newer saved snapshot (no control plane needed).
    writeFileSync(join(stateDir, 'mesh', 'self-1.json'), JSON.stringify(snapshot(true)));
    proxy.kill('SIGKILL');
    proxy = start();
    await waitFor('admin port', async () => (await httpRequest(`http://${HOST}:${ports.admin}/healthz`)).status === 200);
    const ok = await httpRequest(`http://${HOST}:${ports.inbound}/x?y=1`);
    assert.equal(ok.status, 200);
    assert.equal(ok.body, 'app GET /x?y=1');
    const state = JSON.parse((await httpRequest(`http://${HOST}:${ports.admin}/mesh/state`)).body) as { version: number; registered: boolean };
    assert.deepEqual([state.version, state.registered], [2, true]);
  });

  test('outbound: a refused endpoint is skipped (retry on connect failure), requests with a body included', async () => {
    // A body in hand is sent again on the next endpoint. (A request with a body was never retried:
    // the check for a client gone away read the request's `destroyed`, true once its body was read.)
    for (let i = 0; i < 24; i++) {
      const method = ['GET', 'POST', 'PUT'][i % 3];
      const body = method === 'GET' ? undefined : `payload-${i}`;
      const r = await request(`http://${HOST}:${ports.out}/o/${i}`, { method, ...(body ? { body } : {}) });
      assert.equal(r.status, 200, r.body);
      assert.equal(r.body, `peer-a ${method} /o/${i}${body ? ` ${body}` : ''}`);
    }
  });

  test('request bodies reach the app: chunked uploads (streamed) and content-length ones', async () => {
    const chunked = await raw(ports.inbound, 'POST /echo HTTP/1.1\r\nhost: x\r\ntransfer-encoding: chunked\r\nconnection: close\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n', true);
    assert.match(chunked, /^HTTP\/1\.1 200/);
    assert.match(chunked, /echo chunked hello world$/);
    const sized = await raw(ports.inbound, 'POST /echo HTTP/1.1\r\nhost: x\r\ncontent-length: 5\r\nconnection: close\r\n\r\nhello', true);
    assert.match(sized, /echo - hello$/);
  });

  test('forward proxy routes http://<service>/… by host name; unknown services get 503 with a reason', async () => {
    const viaProxy = (url: string): Promise<{ status: number; body: string; reason?: string }> =>
      new Promise((resolve, reject) => {
        const req = http.request({ host: HOST, port: ports.fwd, path: url, headers: { host: new URL(url).host }, agent: false }, (res) => {
          let body = '';
          res.on('data', (d: Buffer) => (body += d.toString()));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, body, reason: res.headers['x-berth-reason'] as string | undefined }));
        });
        req.on('error', reject);
        req.end();
      });
    const r = await viaProxy('http://peer/fp?q=1');
    assert.deepEqual([r.status, r.body], [200, 'peer-a GET /fp?q=1']);
    const u = await viaProxy('http://nope/');
    assert.deepEqual([u.status, u.reason], [503, 'unknown-service']);
  });

  test('hostile input: oversized headers → 431, Content-Length + Transfer-Encoding → 400, garbage → 400', async () => {
    // Every answer the proxy makes itself carries Date (RFC 9110 §6.6.1; issue 11 point 12).
    const dated = /\r\ndate: \w{3}, \d{2} \w{3} \d{4} [\d:]{8} GMT\r\n/i;
    const big = await raw(ports.inbound, `GET / HTTP/1.1\r\nhost: x\r\nx-big: ${'a'.repeat(70_000)}\r\n\r\n`, true);
    assert.match(big, /^HTTP\/1\.1 431/);
    assert.match(big, dated);
    const smuggle = await raw(ports.inbound, 'POST / HTTP/1.1\r\nhost: x\r\ncontent-length: 3\r\ntransfer-encoding: chunked\r\n\r\n0\r\n\r\n', true);
    assert.match(smuggle, /^HTTP\/1\.1 400/);
    assert.match(smuggle, dated);
    const garbage = await raw(ports.inbound, '\x00\x01garbage\r\n\r\n', true);
    assert.match(garbage, /^HTTP\/1\.1 400/);
    assert.match(garbage, dated);
    const badChunk = await raw(ports.inbound, 'POST / HTTP/1.1\r\nhost: x\r\ntransfer-encoding: chunked\r\n\r\nzz\r\n', true);
    assert.match(badChunk, /^HTTP\/1\.1 400/);
    assert.match(badChunk, dated);
    assert.equal((await httpRequest(`http://${HOST}:${ports.inbound}/still-up`)).status, 200, 'the proxy survived');
  });

  test('slowloris: a client that never finishes its headers is cut after the headers timeout', async () => {
    const s = net.connect(ports.inbound, HOST);
    await new Promise((r) => s.once('connect', r));
    s.on('error', () => {}); // the proxy cuts it: a late write may see EPIPE
    s.write('GET / HTTP/1.1\r\nhost: x\r\n');
    const t0 = performance.now();
    const drip = setInterval(() => s.writable && s.write('x-drip: 1\r\n'), 200);
    await new Promise((r) => s.once('close', r));
    clearInterval(drip);
    const took = performance.now() - t0;
    assert.ok(took >= 900 && took < 4000, `cut after ${Math.round(took)} ms`);
  });

  test('a stalled body on a connection node:http serves (Expect, a coding before chunked) is answered 408 and its upstream request ends (issue 11 point 8)', { timeout: 20_000 }, async () => {
    const heads = [
      'POST /stalled-upload HTTP/1.1\r\nhost: x\r\ncontent-length: 100\r\nexpect: 100-continue\r\n\r\nhalf',
      'POST /stalled-upload HTTP/1.1\r\nhost: x\r\ntransfer-encoding: gzip, chunked\r\n\r\n4\r\nhalf\r\n',
    ];
    for (const [i, head] of heads.entries()) {
      const t0 = performance.now();
      const got = await raw(ports.inbound, head, true);
      const took = performance.now() - t0;
      assert.match(got, /HTTP\/1\.1 408 /, `${head.split('\r\n')[2]}: ${got}`);
      assert.ok(took >= 900 && took < 4000, `answered after ${Math.round(took)} ms (timeout 1 s)`);
      // A small sized body is collected before the upstream request starts; a streamed one reaches the app and is cut there.
      await new Promise((r) => setTimeout(r, 200));
      await waitFor(`the app to see its request cut (${JSON.stringify(uploads)})`, () => uploads.cut === uploads.started, 3000);
      if (i === 1) assert.ok(uploads.started >= 1, 'the streamed upload reached the app before it stalled');
    }
    // A body held back by back-pressure (the app does not read for 1.5 s) is not a stalled one; 32 MiB
    // is more than the kernel's buffers take while the app does not read, whatever the machine.
    const size = 32 * 1024 * 1024;
    const got = await new Promise<string>((resolve, reject) => {
      const s = net.connect(ports.inbound, HOST, () => {
        s.write(`POST /slow-reader HTTP/1.1\r\nhost: x\r\ncontent-length: ${size}\r\nexpect: 100-continue\r\nconnection: close\r\n\r\n`);
        s.write(Buffer.alloc(size, 97));
      });
      let text = '';
      s.on('data', (d: Buffer) => (text += d.toString('latin1')));
      s.on('close', () => resolve(text));
      // What the proxy answered before it closed says why (a write after its close fails EPIPE).
      s.on('error', (err) => reject(new Error(`${err.message} after ${JSON.stringify(text.slice(0, 300))}`)));
    });
    assert.match(got, new RegExp(`HTTP/1\\.1 200 [^]*read ${size}$`), got.slice(0, 300));
  });

  test('pipelined requests on a connection node:http serves wait their turn: none reaches the app while an earlier one is in flight (issue 11 point 10)', { timeout: 20_000 }, async () => {
    const before = counted;
    const { s, text } = await collecting(ports.inbound);
    // `Expect` makes node:http serve the connection; 300 requests pipelined behind the slow one.
    s.write('GET /slow HTTP/1.1\r\nhost: x\r\nexpect: 100-continue\r\n\r\n');
    await new Promise((r) => setTimeout(r, 100));
    s.write('GET /count HTTP/1.1\r\nhost: x\r\n\r\n'.repeat(299) + 'GET /count HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n');
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(counted, before, 'nothing behind the slow request reached the app while it was in flight');
    await new Promise((r) => s.once('close', r));
    const got = text();
    const answers = got.match(/HTTP\/1\.1 200 OK/g) ?? [];
    assert.equal(answers.length, 301, 'every request answered');
    assert.ok(got.indexOf('slow done') < got.indexOf(`count ${before + 1}`), 'in order');
    assert.equal(counted, before + 300);
  });

  test('requests waiting their turn are never sent on when no answer could reach the client: it left, or an earlier request closed the connection', { timeout: 20_000 }, async () => {
    for (const [what, first] of [
      ['the client leaves', 'GET /slow HTTP/1.1\r\nhost: x\r\nexpect: 100-continue\r\n\r\n'],
      ['connection: close on the first request', 'GET /slow HTTP/1.1\r\nhost: x\r\nexpect: 100-continue\r\nconnection: close\r\n\r\n'],
    ] as const) {
      const before = counted;
      const { s, text } = await collecting(ports.inbound);
      s.write(first);
      await new Promise((r) => setTimeout(r, 100));
      // Fewer than the 16 a connection may have waiting before the proxy stops reading it (http1-turns.ts): it sees the client leave.
      s.write('GET /count HTTP/1.1\r\nhost: x\r\n\r\n'.repeat(10));
      await new Promise((r) => setTimeout(r, 100));
      if (what === 'the client leaves') s.destroy();
      // /slow answers after 600 ms; what waited behind it would go out then.
      await new Promise((r) => setTimeout(r, 1200));
      s.destroy();
      assert.equal(counted, before, `${what}: no waiting request reached the app (${text().slice(0, 200)})`);
    }
    // The proxy still drains promptly: nothing it counts as in flight was left behind.
    assert.equal((await httpRequest(`http://${HOST}:${ports.inbound}/after-turns`)).status, 200);
  });

  test('CONNECT and Upgrade pipelined behind a request in flight wait for its answer: never written into it, never sent before it (issue 11 point 10)', { timeout: 20_000 }, async () => {
    const slow = 'GET /slow HTTP/1.1\r\nhost: x\r\nexpect: 100-continue\r\n\r\n';
    // CONNECT: its 405 comes after the slow answer, whole, and the connection closes.
    {
      const { s, text } = await collecting(ports.inbound);
      s.write(slow);
      await new Promise((r) => setTimeout(r, 100));
      s.write('CONNECT peer:80 HTTP/1.1\r\nhost: peer:80\r\n\r\n');
      await new Promise((r) => s.once('close', r));
      const got = text();
      assert.match(got, /^HTTP\/1\.1 100 Continue\r\n\r\nHTTP\/1\.1 200 OK\r\n[^]*\r\n\r\n(9\r\n)?slow done(\r\n0\r\n\r\n)?HTTP\/1\.1 405 Method Not Allowed\r\n[^]*\r\n\r\n$/, got);
    }
    // Upgrade: the app sees the handshake only once the slow answer went out; the 101 follows it.
    {
      const { s, text } = await collecting(ports.inbound);
      s.write(slow);
      await new Promise((r) => setTimeout(r, 100));
      s.write('GET /ws HTTP/1.1\r\nhost: x\r\nupgrade: websocket\r\nconnection: Upgrade\r\nsec-websocket-key: cGlwZWxpbmVkIGtleSEh\r\nsec-websocket-version: 13\r\n\r\n');
      await waitFor('101', () => text().includes('101 Switching Protocols'), 5000, 10);
      const got = text();
      assert.ok(got.indexOf('slow done') >= 0 && got.indexOf('slow done') < got.indexOf('HTTP/1.1 101 '), got);
      assert.match(got, /x-key: cGlwZWxpbmVkIGtleSEh/);
      const before = got.length;
      s.write('ping-2');
      await waitFor('echo', () => text().slice(before) === 'ping-2', 5000, 10);
      s.destroy();
    }
    // A large answer before it goes out whole (node:http's own drain relay is gone once it handed
    // the connection over: the answer stopped at ~64 KiB and the connection hung).
    {
      const { s, text } = await collecting(ports.inbound);
      s.write('GET /big HTTP/1.1\r\nhost: x\r\nexpect: 100-continue\r\n\r\nCONNECT peer:80 HTTP/1.1\r\nhost: peer:80\r\n\r\n');
      await Promise.race([new Promise((r) => s.once('close', r)), new Promise((r) => setTimeout(r, 8000))]);
      const got = text();
      const start = got.indexOf('\r\n\r\n', got.indexOf('200 OK')) + 4;
      assert.equal(got.slice(start, start + 4 * 1024 * 1024), 'b'.repeat(4 * 1024 * 1024), `the big answer came whole (${got.length} bytes in all)`);
      assert.match(got.slice(start + 4 * 1024 * 1024), /^HTTP\/1\.1 405 /);
      s.destroy();
    }
    // Bytes the client sends after the upgrade's head, before the 101, with 16 requests waiting in
    // front (the most a connection has waiting before it is no longer read), reach the tunnel.
    {
      const { s, text } = await collecting(ports.inbound);
      s.write(slow + 'GET /q HTTP/1.1\r\nhost: x\r\n\r\n'.repeat(16) + 'GET /ws HTTP/1.1\r\nhost: x\r\nupgrade: websocket\r\nconnection: Upgrade\r\nsec-websocket-key: ZWFybHkgYnl0ZXMga2V5\r\nsec-websocket-version: 13\r\n\r\n');
      await waitFor('two answers', () => (text().match(/HTTP\/1\.1 200 /g) ?? []).length >= 2, 5000, 10);
      s.write('early-bytes|');
      await waitFor('101', () => text().includes('101 Switching Protocols'), 5000, 10);
      s.write('ping-3');
      await waitFor('echo', () => text().endsWith('ping-3'), 5000, 10);
      const got = text();
      assert.equal(got.slice(got.indexOf('\r\n\r\n', got.indexOf('101 Switching')) + 4), 'early-bytes|ping-3');
      s.destroy();
    }
    // node:http's own last answer (400: no Host) before a CONNECT closes the connection: no 405 after it.
    {
      const { s, text } = await collecting(ports.inbound);
      s.write(slow + 'GET /nohost HTTP/1.1\r\n\r\nCONNECT peer:80 HTTP/1.1\r\nhost: peer:80\r\n\r\n');
      await new Promise((r) => s.once('close', r));
      const got = text();
      assert.match(got, /HTTP\/1\.1 400 Bad Request\r\n/);
      assert.doesNotMatch(got, /405/, got);
    }
  });

  test('a first read too short to tell HTTP/2 from HTTP/1.1 (`P`, `PU`) waits for more bytes: a POST or PUT sent in pieces is HTTP/1.1', async () => {
    for (const [first, rest] of [['P', 'OST /echo HTTP/1.1\r\nhost: x\r\ncontent-length: 2\r\nconnection: close\r\n\r\nhi'], ['PU', 'T /echo HTTP/1.1\r\nhost: x\r\ncontent-length: 2\r\nconnection: close\r\n\r\nho']]) {
      const { s, text } = await collecting(ports.inbound);
      s.write(first);
      await new Promise((r) => setTimeout(r, 50));
      s.write(rest);
      await new Promise((r) => s.once('close', r));
      assert.match(text(), /^HTTP\/1\.1 200 [^]*echo - h[io]$/, `${first}|${rest.slice(0, 10)}: ${JSON.stringify(text().slice(0, 80))}`);
    }
  });

  test('a malformed answer is a 502 upstream-bad-response, and a GET is not sent again for it (issue 11 point 7)', async () => {
    const before = badAnswers;
    const r = await raw(ports.inbound, 'GET /two-lengths HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n', true);
    assert.match(r, /^HTTP\/1\.1 502 /);
    assert.match(r, /\r\nx-berth-reason: upstream-bad-response\r\n/i);
    assert.doesNotMatch(r, /ok!/);
    assert.equal(badAnswers - before, 1, 'the app got the request once');
    // A coding other than chunked cannot reach the client as sent (the answer is framed again): refused, as nginx does.
    const coded = await raw(ports.inbound, 'GET /gzip-chunked HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n', true);
    assert.match(coded, /^HTTP\/1\.1 502 [^]*\r\nx-berth-reason: upstream-bad-response\r\n/i, coded);
    assert.doesNotMatch(coded, /zzzz/);
  });

  test('a client that closes its side with a request in flight is gone: the request is given up at the app, as nginx (499) and Envoy do', async () => {
    const before = hangsAbandoned;
    const s = net.connect(ports.inbound, HOST, () => s.end('GET /hang HTTP/1.1\r\nhost: x\r\n\r\n'));
    s.on('error', () => {});
    s.resume();
    await waitFor('the app request given up', async () => hangsAbandoned > before, 3000);
    await new Promise<void>((r) => (s.closed ? r() : s.once('close', () => r())));
  });

  test('requests pipelined behind a slow one whose head was cut by a read stay bytes in the kernel: memory does not grow with them', async () => {
    // 8 connections, each a slow request whose head comes in two reads and 3,000 more behind it. A
    // connection used to go to node:http at the cut head, which then parsed each read whole: ~2.3 KB
    // of objects per waiting request, ~7 MB per connection (60 MB here).
    const rssMB = (): number => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${proxy.pid}/status`, 'utf8'))![1]) / 1024;
    const before = rssMB();
    const conns = await Promise.all(Array.from({ length: 8 }, () => collecting(ports.inbound)));
    // A read that ends inside the slow request's head, then the rest.
    for (const c of conns) c.s.write('GET /p HTTP/1.1\r\nhost: x\r\n\r\nGET /sl');
    await new Promise((r) => setTimeout(r, 100));
    const rest = `ow HTTP/1.1\r\nhost: x\r\n\r\n${'GET /p HTTP/1.1\r\nhost: x\r\n\r\n'.repeat(3000)}`;
    for (const c of conns) for (let at = 0; at < rest.length; at += 997) c.s.write(rest.slice(at, at + 997));
    await new Promise((r) => setTimeout(r, 400));
    const during = rssMB();
    assert.ok(during - before < 25, `RSS grew ${(during - before).toFixed(1)} MB with 24,000 requests waiting`);
    await waitFor('every answer', async () => conns.every((c) => (c.text().match(/HTTP\/1\.1 200 /g) ?? []).length === 3002), 20_000);
    for (const c of conns) c.s.destroy();
  });

  test('a body of 1-byte chunks goes on in pieces of a read, not a chunk (and an app data event) per byte', async () => {
    const n = 20_000;
    const body = `${'1\r\nx\r\n'.repeat(n)}0\r\n\r\n`;
    const t0 = performance.now();
    const r = await raw(ports.inbound, `POST /count-pieces HTTP/1.1\r\nhost: x\r\ntransfer-encoding: chunked\r\nconnection: close\r\n\r\n${body}`, true);
    const [pieces, bytes] = r.slice(r.indexOf('\r\n\r\n') + 4).replace(/^[0-9a-f]+\r\n/, '').split(/\s+/).map(Number);
    assert.equal(bytes, n, JSON.stringify(r.slice(0, 300)));
    assert.ok(pieces < 200, `${pieces} pieces for ${n} chunks`);
    assert.ok(performance.now() - t0 < 3000);
  });

  test('an answer cut by a reset is not passed on as complete; a FIN ends a close-delimited one (issue 11 point 2)', async () => {
    const fetchOn = async (path: string): Promise<{ text: string; closed: boolean }> => {
      const c = await collecting(ports.inbound);
      c.s.write(`GET ${path} HTTP/1.1\r\nhost: x\r\n\r\n`);
      const closed = await Promise.race([new Promise<boolean>((r) => c.s.once('close', () => r(true))), new Promise<boolean>((r) => setTimeout(() => r(false), 1500))]);
      c.s.destroy();
      return { text: c.text(), closed };
    };
    const cut = await fetchOn('/close-rst');
    assert.match(cut.text, /^HTTP\/1\.1 200 [^]*hello-partial/);
    assert.doesNotMatch(cut.text, /\r\n0\r\n\r\n$/, 'no last chunk after a reset');
    assert.equal(cut.closed, true, 'the client connection is cut');
    const whole = await fetchOn('/close-fin');
    assert.match(whole.text, /^HTTP\/1\.1 200 [^]*\r\nd\r\nhello-partial\r\n0\r\n\r\n$/, 'a FIN ends the body: framed with its last chunk');
  });

  test('answers no client may get as sent are a 502: an unasked 101, a malformed status line, a head over the limit in one read (issue 11 points 7, 11)', async () => {
    for (const path of ['/switch-unasked', '/status-2004', '/status-200x', '/status-1000', '/status-bare-cr', '/big-head']) {
      const r = await raw(ports.inbound, `GET ${path} HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n`, true);
      assert.match(r, /^HTTP\/1\.1 502 [^]*\r\nx-berth-reason: upstream-bad-response\r\n/i, `${path}: ${r.slice(0, 200)}`);
      assert.doesNotMatch(r, /ok!|switched!/, path);
    }
    // A 204 has no Content-Length (RFC 9110 §8.6): dropped, the rest of the head kept.
    const empty = await raw(ports.inbound, 'GET /no-content HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n', true);
    assert.match(empty, /^HTTP\/1\.1 204 [^]*\r\nx-kept: yes\r\n/i, empty);
    assert.doesNotMatch(empty, /content-length/i, empty);
  });

  test('traceparent: started when absent, trace id kept when present; Prometheus /metrics on the admin port', async () => {
    const fresh = (await httpRequest(`http://${HOST}:${ports.inbound}/trace`)).body;
    assert.match(fresh, /^00-[0-9a-f]{32}-[0-9a-f]{16}-01$/);
    const kept = await new Promise<string>((resolve, reject) => {
      const req = http.request(`http://${HOST}:${ports.inbound}/trace`, { headers: { traceparent: '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01' }, agent: false }, (res) => {
        let b = '';
        res.on('data', (d: Buffer) => (b += d.toString()));
        res.on('end', () => resolve(b));
      });
      req.on('error', reject);
      req.end();
    });
    assert.match(kept, /^00-4bf92f3577b34da6a3ce929d0e0e4736-(?!00f067aa0ba902b7)[0-9a-f]{16}-01$/);
    const metrics = (await httpRequest(`http://${HOST}:${ports.admin}/metrics`)).body;
    assert.match(metrics, /^berth_proxy_requests_total\{proxy="self-1",source="unknown",direction="inbound",destination="self",variant="default",route="inbound",code="200"\} \d+$/m);
    assert.match(metrics, /^berth_proxy_requests_total\{[^}]*direction="outbound",destination="peer"[^}]*code="200"\} \d+$/m);
    assert.match(metrics, /^berth_proxy_request_duration_seconds_bucket\{[^}]*le="\+Inf"\} \d+$/m);
  });

  test('Upgrade (WebSocket) requests are tunnelled: 101 from the app, then bytes both ways', async () => {
    const s = net.connect(ports.inbound, HOST);
    await new Promise((r) => s.once('connect', r));
    s.write('GET /ws HTTP/1.1\r\nhost: x\r\nupgrade: websocket\r\nconnection: Upgrade\r\nsec-websocket-key: dGhlIHNhbXBsZSBub25jZQ==\r\nsec-websocket-version: 13\r\n\r\n');
    let got = '';
    s.on('data', (d: Buffer) => (got += d.toString()));
    await waitFor('101', () => got.includes('\r\n\r\n'), 5000, 10);
    assert.match(got, /^HTTP\/1\.1 101 /);
    assert.match(got, /x-key: dGhlIHNhbXBsZSBub25jZQ==/);
    got = '';
    s.write('ping-1');
    await waitFor('echo', () => got === 'ping-1', 5000, 10);
    s.destroy();
  });

  test('SIGTERM drains: the in-flight request finishes, new connections are refused, exit 0', async () => {
    const slow = httpRequest(`http://${HOST}:${ports.inbound}/slow`, 'GET', 5000);
    await new Promise((r) => setTimeout(r, 100));
    const exited = new Promise<number | null>((r) => proxy.once('exit', (code) => r(code)));
    proxy.kill('SIGTERM');
    await waitFor('listener closed', () => httpRequest(`http://${HOST}:${ports.inbound}/new`, 'GET', 500).then(() => false, () => true), 3000, 20);
    const r = await slow;
    assert.deepEqual([r.status, r.body], [200, 'slow done']);
    assert.equal(await exited, 0, stderr);
  });
});
