// A mirrored copy is a call of its own in the trace, and the proxy that copies says so: one real
// berth-proxy process with tracing on sends, for each sampled copy, a CLIENT span marked `shadow`
// whose parent is the primary hop's span and whose id is the parent id the shadow received. Before,
// the copy's parent id was made up and recorded nowhere, so the shadow's own spans formed a second
// root of the trace: `berth traces show` could print the shadow's hops above the primary's (a CI
// run of dashboard-recordings failed so, the two roots' starts a millisecond apart).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import http2 from 'node:http2';
import type { MeshSnapshot, TraceSpan } from '../../src/lib/mesh-protocol.js';
import { portBlock, waitFor } from './harness/berth.js';
import { HOST, request, startProxy, upstream, type ProxyUnderTest } from './mesh-helpers/proxy.js';
import { standInControl, type StandInControl } from './mesh-helpers/stand-in-control.js';

const base = portBlock(10);
const P = { inbound: base, app: base + 1, admin: base + 2, out: base + 3, outH2: base + 4, primary: base + 5, shadow: base + 6, h2Primary: base + 7, h2Shadow: base + 8, cp: base + 9 };
const TRACE = '4bf92f3577b34da6a3ce929d0e0e4736';
const traceparent = (parent: string, flags = '01'): string => `00-${TRACE}-${parent}-${flags}`;

/** Each request's path and the parent id of the traceparent it came with. */
type Seen = Map<string, string>;
const parentOf = (tp: unknown): string => String(tp).slice(36, 52);

async function h2Server(port: number, seen: Seen): Promise<http2.Http2Server> {
  const server = http2.createServer();
  server.on('stream', (stream, headers) => {
    seen.set(String(headers[':path']), parentOf(headers.traceparent));
    stream.resume();
    stream.on('end', () => {
      stream.respond({ ':status': 200 });
      stream.end('h2');
    });
    stream.on('error', () => {});
  });
  await new Promise<void>((r) => server.listen(port, HOST, r));
  return server;
}

function h2Get(port: number, path: string, tp: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const session = http2.connect(`http://${HOST}:${port}`);
    session.on('error', reject);
    const s = session.request({ ':path': path, traceparent: tp });
    let status = 0;
    s.on('response', (h) => (status = Number(h[':status'])));
    s.resume();
    s.on('end', () => (session.close(), resolve(status)));
    s.on('error', reject);
  });
}

describe('a mirrored copy records its own CLIENT span under the primary hop (berth-proxy process)', () => {
  const spans: TraceSpan[] = [];
  const seenPrimary: Seen = new Map();
  const seenShadow: Seen = new Map();
  const closers: (() => void)[] = [];
  let proxy: ProxyUnderTest;
  let cp: StandInControl;

  before(async () => {
    // The shadow cuts /shadow-fails off without an answer.
    const noting = (seen: Seen, cutOff = false): http.RequestListener => (req, res) => {
      seen.set(req.url ?? '', parentOf(req.headers.traceparent));
      if (cutOff && req.url === '/shadow-fails') return void req.socket.destroy();
      req.resume();
      req.on('end', () => res.end('ok'));
    };
    const servers = [await upstream(P.app, 'app'), await upstream(P.primary, 'primary', noting(seenPrimary)), await upstream(P.shadow, 'shadow', noting(seenShadow, true))];
    const h2 = [await h2Server(P.h2Primary, seenPrimary), await h2Server(P.h2Shadow, seenShadow)];
    closers.push(...servers.map((s) => () => (s.closeAllConnections(), s.close())), ...h2.map((s) => () => s.close()));
    const ep = (id: string, port: number, variant = 'default') => ({ id, host: HOST, port, variant });
    const snapshot = {
      version: 1,
      app: 'mirror-spans',
      config: {
        accessLog: false,
        tracing: { sample: 1 },
        services: {
          // One service's variant as the shadow (a release's canary), as Istio's mirror to a subset.
          orders: { routes: [{ name: 'orders-mirrored', to: [{ service: 'orders', variant: 'default', weight: 100 }], mirror: { service: 'orders', variant: 'v2', percent: 100 } }] },
          docs: { protocol: 'h2c', routes: [{ name: 'docs-mirrored', mirror: { service: 'docs-next', percent: 100 } }] },
          'docs-next': { protocol: 'h2c' },
        },
      },
      services: [
        { name: 'self', port: P.inbound, endpoints: [ep('self-1', P.inbound)] },
        { name: 'orders', port: 1, endpoints: [ep('orders-1', P.primary), ep('orders-v2-1', P.shadow, 'v2')] },
        { name: 'docs', port: 2, endpoints: [ep('docs-1', P.h2Primary)] },
        { name: 'docs-next', port: 3, endpoints: [ep('docs-next-1', P.h2Shadow)] },
      ],
    } as MeshSnapshot;
    cp = await standInControl({ host: HOST, port: P.cp, first: snapshot, onPost: (url, body) => (url === '/api/v1/traces' && spans.push(...(JSON.parse(body) as { spans: TraceSpan[] }).spans), false) });
    proxy = await startProxy({ id: 'self-1', inbound: P.inbound, app: P.app, admin: P.admin, outbound: { orders: P.out, docs: P.outH2 }, snapshot, control: P.cp });
    await waitFor('tracing on', () => /tracing: sampling/.test(proxy.stderr()), 5000);
  });
  after(async () => {
    proxy?.child.kill('SIGKILL');
    await cp?.close();
    for (const c of closers) c();
  });

  /** The primary's and the copy's CLIENT spans of `path`, once both were sent. */
  const spansOf = (path: string): Promise<{ primary: TraceSpan; copy: TraceSpan }> =>
    waitFor(`the spans of ${path}`, () => {
      const primary = spans.find((s) => s.path === path && s.kind === 'client' && !s.shadow);
      const copy = spans.find((s) => s.path === path && s.kind === 'client' && s.shadow);
      return primary && copy ? { primary, copy } : undefined;
    }, 5000);

  for (const method of ['GET', 'POST']) {
    test(`HTTP/1.1 ${method}: the copy's span is a child of the primary hop's, and its id is the shadow's parent id`, async () => {
      const path = `/h1-${method.toLowerCase()}`;
      const client = '00f067aa0ba902b7';
      const r = await request(`http://${HOST}:${P.out}${path}`, { method, headers: { traceparent: traceparent(client) }, ...(method === 'POST' ? { body: '{"qty":2}' } : {}) });
      assert.equal(r.status, 200);
      const { primary, copy } = await spansOf(path);
      assert.equal(primary.parentId, client, 'the primary hop is the client\'s child');
      assert.equal(seenPrimary.get(path), primary.spanId, 'the primary upstream got the hop\'s span id');
      assert.deepEqual(
        { traceId: copy.traceId, parentId: copy.parentId, service: copy.service, variant: copy.variant, source: copy.source, route: copy.route, method: copy.method, status: copy.status },
        { traceId: TRACE, parentId: primary.spanId, service: 'orders', variant: 'v2', source: 'self', route: 'orders-mirrored', method, status: 200 },
      );
      assert.notEqual(copy.spanId, primary.spanId);
      await waitFor('the copy at the shadow', () => seenShadow.has(path), 5000);
      assert.equal(seenShadow.get(path), copy.spanId, 'the shadow\'s server span will hang under the copy\'s span');
      assert.ok(copy.start >= primary.start - 1 && copy.durationMs >= 0, JSON.stringify({ primary, copy }));
    });
  }

  test('h2c: the copy on its own stream records its span the same way', async () => {
    const path = '/h2-get';
    assert.equal(await h2Get(P.outH2, path, traceparent('a3ce929d0e0e4736')), 200);
    const { primary, copy } = await spansOf(path);
    assert.deepEqual({ parentId: copy.parentId, service: copy.service, variant: copy.variant, status: copy.status }, { parentId: primary.spanId, service: 'docs-next', variant: '-', status: 200 });
    await waitFor('the h2 copy at the shadow', () => seenShadow.has(path), 5000);
    assert.equal(seenShadow.get(path), copy.spanId);
  });

  test('a copy the shadow cut off is a 502 span; an unsampled request records no copy span', async () => {
    assert.equal((await request(`http://${HOST}:${P.out}/shadow-fails`, { headers: { traceparent: traceparent('1111111111111111') } })).status, 200, 'the client gets the primary\'s answer');
    const { copy } = await spansOf('/shadow-fails');
    assert.equal(copy.status, 502);
    assert.equal((await request(`http://${HOST}:${P.out}/unsampled`, { headers: { traceparent: traceparent('2222222222222222', '00') } })).status, 200);
    await waitFor('the unsampled copy at the shadow', () => seenShadow.has('/unsampled'), 5000);
    // Spans go every second: two flushes later, still none for it.
    await new Promise((r) => setTimeout(r, 2200));
    assert.deepEqual(spans.filter((s) => s.path === '/unsampled'), []);
  });
});
