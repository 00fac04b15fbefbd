// HTTP/2 flow-control windows on the hop between two real berth-proxy processes 20 ms apart (a TCP
// relay adding 10 ms each way): node's default windows are 65,535 bytes for a stream and for the
// connection, one window per round trip, so an 8 MB download across the hop took ~3.5 s (2.3 MB/s)
// and a 4 MB upload ~1.4 s, where a client talking to the inbound proxy across the same relay with
// large windows of its own got 60 MB/s. Envoy opens both windows to 256 MiB; the proxy now gives
// 256 KiB per stream and 8 MiB per connection, on both sides (~0.75 s and ~0.4 s here).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import http2 from 'node:http2';
import net from 'node:net';
import { portBlock } from './harness/berth.js';
import { HOST, startProxy, type ProxyUnderTest } from './mesh-helpers/proxy.js';
import type { MeshSnapshot } from '../../src/lib/mesh-protocol.js';

const base = portBlock(8);
const P = { inbound: base, app: base + 1, admin: base + 2, relay: base + 3, out: base + 4, outAdmin: base + 5, outInbound: base + 6, svc: base + 7 };
/** One-way delay the relay adds. */
const DELAY_MS = 10;

const snapshot: MeshSnapshot = {
  version: 1,
  app: 'h2win',
  services: [
    { name: 'far', port: P.svc, endpoints: [{ id: 'far-1', host: HOST, port: P.relay, variant: 'default' }] },
    { name: 'client', port: P.svc + 100, endpoints: [{ id: 'client-1', host: HOST, port: P.outInbound, variant: 'default' }] },
  ],
  config: { accessLog: false, services: { far: { protocol: 'h2c' } } },
};

const SIZE = 8_000_000;
const CHUNK = Buffer.alloc(64 * 1024, 'y');

/** A TCP relay to `to` that holds every piece `DELAY_MS` each way (Nagle off, as the proxies). */
function delayRelay(port: number, to: number): Promise<net.Server> {
  const server = net.createServer((c) => {
    c.setNoDelay(true);
    const u = net.connect({ port: to, host: HOST, noDelay: true });
    const pipe = (a: net.Socket, b: net.Socket): void => {
      a.on('data', (x: Buffer) => void setTimeout(() => b.write(x), DELAY_MS));
      a.on('end', () => void setTimeout(() => b.end(), DELAY_MS));
      a.on('error', () => b.destroy());
    };
    pipe(c, u);
    pipe(u, c);
  });
  return new Promise((r) => server.listen(port, HOST, () => r(server)));
}

describe('HTTP/2 windows between proxies', () => {
  let app: http2.Http2Server | undefined;
  let relay: net.Server | undefined;
  const proxies: ProxyUnderTest[] = [];

  before(async () => {
    app = http2.createServer();
    app.on('stream', (s, h) => {
      s.on('error', () => {});
      if (h[':path'] === '/download') {
        s.respond({ ':status': 200 });
        let left = SIZE;
        const more = (): void => {
          while (left > 0) {
            const c = CHUNK.subarray(0, Math.min(left, CHUNK.length));
            left -= c.length;
            if (!s.write(c)) return void s.once('drain', more);
          }
          s.end();
        };
        return more();
      }
      const hash = createHash('sha256');
      let bytes = 0;
      s.on('data', (c: Buffer) => {
        hash.update(c);
        bytes += c.length;
      });
      s.on('end', () => {
        s.respond({ ':status': 200 });
        s.end(`${bytes} ${hash.digest('hex')}`);
      });
    });
    await new Promise<void>((r) => app!.listen(P.app, HOST, () => r()));
    relay = await delayRelay(P.relay, P.inbound);
    proxies.push(await startProxy({ id: 'far-1', inbound: P.inbound, app: P.app, admin: P.admin, outbound: {}, snapshot, env: { BERTH_SERVICE: 'far' } }));
    proxies.push(await startProxy({ id: 'client-1', inbound: P.outInbound, app: P.outInbound + 1000, admin: P.outAdmin, outbound: { far: P.out }, snapshot, env: { BERTH_SERVICE: 'client' } }));
  });

  after(() => {
    for (const p of proxies) p.child.kill('SIGKILL');
    relay?.close();
    app?.close();
  });

  /** A session to the outbound port with large windows of its own: the client is never what limits. */
  function session(): Promise<http2.ClientHttp2Session> {
    const s = http2.connect(`http://${HOST}:${P.out}`, { settings: { initialWindowSize: 16 << 20 } });
    s.on('error', () => {});
    return new Promise((r) =>
      s.once('connect', () => {
        s.setLocalWindowSize(32 << 20);
        r(s);
      }),
    );
  }

  test('an 8 MB download across a 20 ms hop is not held to a 64 KiB window per round trip', async () => {
    const s = await session();
    try {
      // The first stream opens the proxies' session; the second is timed.
      for (const timed of [false, true]) {
        const t0 = performance.now();
        const bytes = await new Promise<number>((resolve, reject) => {
          const req = s.request({ ':path': '/download' });
          let n = 0;
          req.on('data', (c: Buffer) => (n += c.length));
          req.on('end', () => resolve(n));
          req.on('error', reject);
        });
        const ms = performance.now() - t0;
        assert.equal(bytes, SIZE);
        // 64 KiB per 20 ms round trip is 3.3 MB/s: ≥ 2.4 s for 8 MB (3.5 s measured); 256 KiB windows: ~0.75 s.
        if (timed) assert.ok(ms < 2000, `8 MB took ${Math.round(ms)} ms`);
      }
    } finally {
      s.close();
    }
  });

  test('an 8 MB upload across the hop arrives whole and in time', async () => {
    const s = await session();
    const body = Buffer.alloc(8_000_000);
    for (let i = 0; i < body.length; i++) body[i] = (i * 7) % 251;
    const want = `${body.length} ${createHash('sha256').update(body).digest('hex')}`;
    try {
      for (const timed of [false, true]) {
        const t0 = performance.now();
        const got = await new Promise<string>((resolve, reject) => {
          const req = s.request({ ':method': 'POST', ':path': '/sha' });
          let text = '';
          req.setEncoding('utf8');
          req.on('data', (d: string) => (text += d));
          req.on('end', () => resolve(text));
          req.on('error', reject);
          req.end(body);
        });
        const ms = performance.now() - t0;
        assert.equal(got, want);
        // ≥ 2.4 s with 64 KiB windows (4 MB took 1.4 s), ~0.8 s now: a loaded machine has 2.5 × of room.
        if (timed) assert.ok(ms < 2000, `8 MB took ${Math.round(ms)} ms`);
      }
    } finally {
      s.close();
    }
  });
});
