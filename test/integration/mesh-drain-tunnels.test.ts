// SIGTERM and connections the lean path does not serve. Open tunnels (WebSocket after a 101) through a real sidecar pair (outbound → inbound
// → app): a tunnel gets the drain period as a request in flight does (nginx's graceful quit, Envoy's
// drain time), then is ended at the deadline and the process exits. node:http stops counting a
// connection once it is upgraded, so the drain used to see nothing in flight and the sidecar exited
// within milliseconds of the signal, cutting every tunnel. And a busy connection node:http serves (the
// lean path hands over after an `Expect`, an upgrade declined…) gets `connection: close` on the answer
// under way, as nginx and Envoy do when draining: it said keep-alive (timeout=3600), then closed.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import http from 'node:http';
import net from 'node:net';
import { portBlock, waitFor } from './harness/berth.js';
import { HOST, startProxy, type ProxyUnderTest } from './mesh-helpers/proxy.js';
import type { MeshSnapshot } from '../../src/lib/mesh-protocol.js';

const base = portBlock(10);
const P = { inbound: base, app: base + 1, admin: base + 2, out: base + 3, svc: base + 4, outInbound: base + 5, outApp: base + 6, outAdmin: base + 7 };
const DRAIN_SECONDS = 2;

const snapshot: MeshSnapshot = {
  version: 1,
  app: 'drain',
  services: [{ name: 'self', port: P.svc, endpoints: [{ id: 'self-1', host: HOST, port: P.inbound, variant: 'default' }] }],
  config: { accessLog: false },
};

/** An app that accepts WebSocket upgrades and echoes bytes. */
function echoApp(): Promise<http.Server> {
  const server = http.createServer((req, res) => {
    req.resume();
    if (req.url === '/slow') return void setTimeout(() => res.end('slow'), 800);
    res.end('plain');
  });
  server.on('upgrade', (req: http.IncomingMessage, socket: net.Socket) => {
    const accept = createHash('sha1').update(`${req.headers['sec-websocket-key']}258EAFA5-E914-47DA-95CA-C5AB0DC85B11`).digest('base64');
    socket.on('error', () => {});
    socket.write(`HTTP/1.1 101 Switching Protocols\r\nupgrade: websocket\r\nconnection: Upgrade\r\nsec-websocket-accept: ${accept}\r\n\r\n`);
    socket.on('data', (d) => socket.write(d));
  });
  return new Promise((r) => server.listen(P.app, HOST, () => r(server)));
}

/** Opens a tunnel on `port`; resolves once the 101 came, with what is received after it. */
function openTunnel(port: number): Promise<{ s: net.Socket; got: () => string; closedAt: Promise<number> }> {
  return new Promise((resolve, reject) => {
    const s = net.connect(port, HOST);
    let text = '';
    const closedAt = new Promise<number>((r) => s.once('close', () => r(performance.now())));
    s.on('error', () => {});
    s.on('data', (d: Buffer) => {
      const was = text.length;
      text += d.toString('latin1');
      if (was === 0 && !/^HTTP\/1\.1 101 /.test(text)) reject(new Error(`no 101: ${text}`));
      if (text.includes('\r\n\r\n')) resolve({ s, got: () => text.slice(text.indexOf('\r\n\r\n') + 4), closedAt });
    });
    s.write('GET /ws HTTP/1.1\r\nhost: self\r\nconnection: Upgrade\r\nupgrade: websocket\r\nsec-websocket-version: 13\r\nsec-websocket-key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n');
  });
}

describe('SIGTERM: open tunnels and connections node:http serves', () => {
  let inbound: ProxyUnderTest | undefined;
  let outbound: ProxyUnderTest | undefined;
  let app: http.Server | undefined;
  const env = { BERTH_PROXY_DRAIN_SECONDS: String(DRAIN_SECONDS) };

  /** A fresh pair for each test: the one that drained is gone. */
  const startPair = async (): Promise<void> => {
    inbound?.child.kill('SIGKILL');
    outbound?.child.kill('SIGKILL');
    inbound = await startProxy({ id: 'self-1', inbound: P.inbound, app: P.app, admin: P.admin, outbound: {}, snapshot, env });
    outbound = await startProxy({ id: 'caller-1', inbound: P.outInbound, app: P.outApp, admin: P.outAdmin, outbound: { self: P.out }, snapshot, env });
  };

  before(async () => {
    app = await echoApp();
  });

  after(() => {
    inbound?.child.kill('SIGKILL');
    outbound?.child.kill('SIGKILL');
    app?.close();
    app?.closeAllConnections();
  });

  test('a request in flight on a connection node:http serves is answered with `connection: close`, then the connection closes', async () => {
    await startPair();
    const s = net.connect(P.inbound, HOST);
    let got = '';
    s.on('data', (d: Buffer) => (got += d.toString('latin1')));
    s.on('error', () => {});
    const closed = new Promise((r) => s.once('close', r));
    // The Expect hands the connection to node:http; the request behind it is in flight at the signal.
    s.write('POST /first HTTP/1.1\r\nhost: self\r\nexpect: 100-continue\r\ncontent-length: 2\r\n\r\nhi');
    await waitFor('first answer', () => got.endsWith('plain'), 3000, 10);
    s.write('GET /slow HTTP/1.1\r\nhost: self\r\n\r\n');
    await new Promise((r) => setTimeout(r, 200));
    const exited = new Promise<number | null>((r) => inbound!.child.once('exit', (code) => r(code)));
    inbound!.child.kill('SIGTERM');
    await Promise.race([closed, new Promise((r) => setTimeout(r, 5000).unref())]);
    const last = got.slice(got.lastIndexOf('HTTP/1.1 '));
    assert.match(last, /^HTTP\/1\.1 200 [^]*\r\n\r\nslow$/, got);
    assert.match(last, /\r\nconnection: close\r\n/i, last);
    assert.doesNotMatch(last, /keep-alive/i, last);
    assert.ok(s.destroyed || s.readableEnded, 'the connection closed after its last answer');
    assert.equal(await exited, 0, inbound!.stderr());
  });

  for (const side of ['inbound', 'outbound'] as const) {
    test(`the ${side} sidecar keeps a tunnel open through its drain period, then ends it and exits`, async () => {
      await startPair();
      const proxy = side === 'inbound' ? inbound! : outbound!;
      const t = await openTunnel(P.out);
      t.s.write('before;');
      await waitFor('echo before the signal', () => t.got() === 'before;', 3000, 10);
      const exited = new Promise<number | null>((r) => proxy.child.once('exit', (code) => r(code)));
      const signalled = performance.now();
      proxy.child.kill('SIGTERM');
      // Well inside the drain period the tunnel still carries bytes both ways.
      await new Promise((r) => setTimeout(r, (DRAIN_SECONDS * 1000) / 2));
      assert.ok(!t.s.destroyed, `the tunnel was cut inside a drain period of ${DRAIN_SECONDS} s`);
      t.s.write('during;');
      await waitFor('echo during the drain', () => t.got() !== 'before;', 400, 10).catch(() => undefined);
      assert.equal(t.got(), 'before;during;', 'bytes sent during the drain are echoed');
      // At the deadline it is ended, and the process exits.
      const closed = (await Promise.race([t.closedAt, new Promise<number>((r) => setTimeout(() => r(-1), DRAIN_SECONDS * 1000 + 3000).unref())])) - signalled;
      assert.ok(closed > 0, 'the tunnel was still open well after the drain deadline');
      assert.ok(closed >= DRAIN_SECONDS * 1000 * 0.9, `ended ${closed.toFixed(0)} ms after SIGTERM`);
      assert.equal(await exited, 0, proxy.stderr());
    });
  }
});
