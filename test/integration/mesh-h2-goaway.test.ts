// An h2c app that sends GOAWAY after every 5th stream of a connection (a server with a
// max-requests-per-connection, a rolling restart) while 20 streams are in flight through the
// sidecar: the streams it left out (above the GOAWAY's last-stream-id) never reached it and are sent
// again on another connection, whatever their method (RFC 9113 8.7), as often as it takes within a
// bound — the proxy used to open one once more and answer 502 to the rest. Also an app that answers
// REFUSED_STREAM a few times to the same request. Each request must reach the app exactly once.
// Clients: node:http2 to the app's sidecar (inbound), through an outbound → inbound pair, and through
// an outbound proxy straight to the app (outlier detection ejecting on the first gateway error: a
// refusal is no app failure).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import http2 from 'node:http2';
import { httpRequest, portBlock, waitFor } from './harness/berth.js';
import { HOST, startProxy, type ProxyUnderTest } from './mesh-helpers/proxy.js';
import type { MeshSnapshot } from '../../src/lib/mesh-protocol.js';

const base = portBlock(10);
const P = { inbound: base, app: base + 1, admin: base + 2, cInbound: base + 3, cApp: base + 4, cAdmin: base + 5, out: base + 6, direct: base + 7, svc: base + 8, directSvc: base + 9 };

/** Streams of a connection the app processes before its GOAWAY. */
const EVERY = 5;
/** Streams in flight at once. */
const IN_FLIGHT = 20;

const snapshot: MeshSnapshot = {
  version: 1,
  app: 'goaway',
  services: [
    { name: 'gsvc', port: P.svc, endpoints: [{ id: 'gsvc-1', host: HOST, port: P.inbound, variant: 'default' }] },
    // The app itself, without its sidecar: the outbound proxy's own HTTP/2 sessions get the GOAWAYs.
    { name: 'direct', port: P.directSvc, endpoints: [{ id: 'direct-1', host: HOST, port: P.app, variant: 'default' }] },
  ],
  config: {
    accessLog: false,
    services: {
      gsvc: { protocol: 'h2c' },
      direct: { protocol: 'h2c', policy: { balancer: 'round_robin', outlierDetection: { consecutive5xxErrors: 0, consecutiveGatewayErrors: 1, interval: 10_000, baseEjectionTime: 30_000, maxEjectionPercent: 100 } } },
    },
  },
};

interface Answer {
  status: number;
  body: string;
  reason: unknown;
}

/** One request on `session` (a POST with `body`, a GET without). */
function send(session: http2.ClientHttp2Session, path: string, id: string, body?: string, extra: Record<string, string> = {}): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = session.request({ ':method': body === undefined ? 'GET' : 'POST', ':path': path, 'x-req': id, ...extra }, { endStream: body === undefined });
    let status = 0;
    let reason: unknown;
    let text = '';
    req.on('response', (h) => {
      status = Number(h[':status']);
      reason = h['x-berth-reason'];
    });
    req.setEncoding('utf8');
    req.on('data', (d: string) => (text += d));
    req.on('end', () => resolve({ status, body: text, reason }));
    req.on('error', reject);
    if (body !== undefined) req.end(body);
  });
}

describe('HTTP/2 upstream GOAWAY and REFUSED_STREAM: streams the app never processed are sent again (berth-proxy processes)', () => {
  /** Requests (x-req) the app processed, and how often. */
  const processed = new Map<string, number>();
  /** Streams the app saw of each request (x-req), processed or refused. */
  const seen = new Map<string, number>();
  let goaways = 0;
  let appSidecar: ProxyUnderTest | undefined;
  let clientSidecar: ProxyUnderTest | undefined;
  let app: http2.Http2Server | undefined;

  before(async () => {
    app = http2.createServer();
    /** Streams each connection of the app took for processing. */
    const taken = new WeakMap<http2.Http2Session, number>();
    app.on('stream', (stream, headers) => {
      stream.on('error', () => {});
      const session = stream.session!;
      const id = String(headers['x-req']);
      seen.set(id, (seen.get(id) ?? 0) + 1);
      // x-refuse: n — the first n streams of this request are refused (RST_STREAM REFUSED_STREAM), unprocessed.
      const refuse = Number(headers['x-refuse'] ?? 0);
      if (refuse > 0 && seen.get(id)! <= refuse) return void stream.close(http2.constants.NGHTTP2_REFUSED_STREAM);
      const n = (taken.get(session) ?? 0) + 1;
      taken.set(session, n);
      // Past the 5th stream of the connection: left out by the GOAWAY below, never processed.
      if (n > EVERY) return;
      if (n === EVERY) {
        // Streams up to this one are processed; the rest of the connection's are not (RFC 9113 6.8).
        goaways++;
        session.goaway(http2.constants.NGHTTP2_NO_ERROR, stream.id!);
        setTimeout(() => !session.destroyed && session.destroy(), 1000);
      }
      let bytes = 0;
      stream.on('data', (d: Buffer) => (bytes += d.length));
      stream.on('end', () => {
        processed.set(id, (processed.get(id) ?? 0) + 1);
        // Answered a little later: the streams stay in flight together.
        setTimeout(() => {
          if (stream.closed || stream.destroyed) return;
          stream.respond({ ':status': 200 });
          stream.end(`${id} ${headers[':method']} ${bytes}`);
        }, 30);
      });
    });
    await new Promise<void>((r) => app!.listen(P.app, HOST, () => r()));
    appSidecar = await startProxy({ id: 'gsvc-1', inbound: P.inbound, app: P.app, admin: P.admin, outbound: {}, snapshot, env: { BERTH_SERVICE: 'gsvc' } });
    clientSidecar = await startProxy({ id: 'client-1', inbound: P.cInbound, app: P.cApp, admin: P.cAdmin, outbound: { gsvc: P.out, direct: P.direct }, snapshot, env: { BERTH_SERVICE: 'client' } });
  });

  after(() => {
    for (const p of [appSidecar, clientSidecar]) p?.child.kill('SIGKILL');
    app?.close();
  });

  /** IN_FLIGHT streams at once to `port` (GETs and POSTs with bodies, alternately): every one is answered 200 by the app, which processed each once. */
  async function burst(port: number, label: string): Promise<void> {
    const session = http2.connect(`http://${HOST}:${port}`);
    session.on('error', () => {});
    const before = goaways;
    try {
      const ids = Array.from({ length: IN_FLIGHT }, (_, i) => `${label}-${i}`);
      const answers = await Promise.all(ids.map((id, i) => send(session, `/work/${i}`, id, i % 2 === 0 ? undefined : `body of ${id} `.repeat(50))));
      const wrong = answers.map((a, i) => ({ id: ids[i], ...a })).filter((a) => a.status !== 200);
      assert.deepEqual(wrong, [], `${label}: every stream answered by the app`);
      answers.forEach((a, i) => assert.equal(a.body, `${ids[i]} ${i % 2 === 0 ? 'GET' : 'POST'} ${i % 2 === 0 ? 0 : `body of ${ids[i]} `.length * 50}`, ids[i]));
      for (const id of ids) assert.equal(processed.get(id), 1, `${id} processed once`);
      assert.ok(goaways - before >= 3, `${label}: the app sent GOAWAY (${goaways - before} times)`);
    } finally {
      session.close();
    }
  }

  test('20 streams in flight to an app that sends GOAWAY after every 5th stream: all answered, each processed once (inbound proxy)', async () => {
    for (let round = 0; round < 3; round++) await burst(P.inbound, `in${round}`);
  });

  test('the same through an outbound → inbound pair', async () => {
    for (let round = 0; round < 3; round++) await burst(P.out, `pair${round}`);
  });

  test('the same through an outbound proxy straight to the app: the refusals eject no endpoint (outlier detection on the first gateway error)', async () => {
    for (let round = 0; round < 3; round++) await burst(P.direct, `direct${round}`);
    const metrics = (await httpRequest(`http://${HOST}:${P.cAdmin}/metrics`)).body;
    assert.doesNotMatch(metrics, /berth_proxy_ejections_total\{destination="direct"/);
  });

  test('a request refused with REFUSED_STREAM three times (a POST with a body) is sent again until the app takes it; one refused for ever gets a bounded number of tries', async () => {
    for (const port of [P.inbound, P.out, P.direct]) {
      const session = http2.connect(`http://${HOST}:${port}`);
      session.on('error', () => {});
      try {
        const id = `refuse3-${port}`;
        const r = await send(session, '/refuse', id, 'x'.repeat(1000), { 'x-refuse': '3' });
        assert.deepEqual([r.status, r.body], [200, `${id} POST 1000`], `${port}`);
        assert.equal(processed.get(id), 1);
        assert.equal(seen.get(id), 4);
        const never = `refuse-always-${port}`;
        const g = await send(session, '/refuse', never, undefined, { 'x-refuse': '1000' });
        assert.equal(g.status, 503, `${port}: refused for ever (${String(g.reason)})`);
        assert.equal(processed.get(never), undefined);
        // A handful of tries on fresh connections, not an endless loop.
        assert.ok(seen.get(never)! >= 2 && seen.get(never)! <= 12, `${port}: tried ${seen.get(never)} times`);
      } finally {
        session.close();
      }
    }
  });

  test('the proxies are still up', async () => {
    await waitFor('admin', async () => (await httpRequest(`http://${HOST}:${P.admin}/healthz`)).status === 200);
  });
});
