// Many large downloads at once on one HTTP/2 connection, through a real berth-proxy in front of an
// HTTP/1.1 app (the inbound translates, h2-to-h1.ts), kept at ~120 streams in flight as h2load -m
// does: each answer must arrive whole. node:http2 refuses a new stream (RST_STREAM
// ENHANCE_YOUR_CALM) while the session's queued data is over its maxSessionMemory, and after 100
// such refusals fails the whole session: the proxy's 16 MB limit was crossed by a dozen streams
// each holding one upstream read (up to 1 MiB) for the client, so ~100 of 300 downloads were
// refused and the connection was then cut with every other download on it.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type http from 'node:http';
import http2 from 'node:http2';
import { portBlock } from './harness/berth.js';
import { HOST, startProxy, upstream, type ProxyUnderTest } from './mesh-helpers/proxy.js';
import type { MeshSnapshot } from '../../src/lib/mesh-protocol.js';

const base = portBlock(4);
const P = { inbound: base, app: base + 1, admin: base + 2, svc: base + 3 };
const snapshot: MeshSnapshot = {
  version: 1,
  app: 'h2many',
  services: [{ name: 'self', port: P.svc, endpoints: [{ id: 'self-1', host: HOST, port: P.inbound, variant: 'default' }] }],
  config: { accessLog: false, services: {} },
};

/** Bytes of each answer: several upstream reads of the largest size. */
const SIZE = 1_000_000;
const BODY = Buffer.alloc(SIZE, 'x');

describe('many large HTTP/2 downloads on one connection to an HTTP/1.1 app', () => {
  let proxy: ProxyUnderTest | undefined;
  let app: http.Server | undefined;

  before(async () => {
    app = await upstream(P.app, 'app', (_req, res) => {
      res.writeHead(200, { 'content-length': SIZE });
      res.end(BODY);
    });
    proxy = await startProxy({ id: 'self-1', inbound: P.inbound, app: P.app, admin: P.admin, outbound: {}, snapshot });
  });

  after(() => {
    proxy?.child.kill('SIGKILL');
    app?.close();
  });

  test('120 streams in flight, 300 downloads: every one complete, none refused', async () => {
    const session = http2.connect(`http://${HOST}:${P.inbound}`);
    session.on('error', () => {});
    const outcomes = new Map<string, number>();
    const total = 300;
    let started = 0;
    let done = 0;
    try {
      await new Promise<void>((resolve) => {
        const one = (): void => {
          if (started >= total) return;
          started++;
          const finish = (what: string): void => {
            outcomes.set(what, (outcomes.get(what) ?? 0) + 1);
            if (++done === total) resolve();
            else one();
          };
          if (session.destroyed || session.closed) return finish('session gone');
          const req = session.request({ ':path': '/big' });
          let status = 0;
          let bytes = 0;
          req.on('response', (h) => (status = Number(h[':status'])));
          req.on('data', (c: Buffer) => (bytes += c.length));
          req.on('end', () => finish(status === 200 && bytes === SIZE ? 'whole' : `${status} after ${bytes} bytes`));
          req.on('error', () => finish(`reset ${req.rstCode}`));
        };
        for (let i = 0; i < 120; i++) one();
      });
    } finally {
      session.close();
    }
    assert.deepEqual(Object.fromEntries(outcomes), { whole: total });
  });
});
