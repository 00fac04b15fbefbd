// gRPC under the mesh's traffic policies, against real proxy processes (a caller's outbound sidecar
// → the callee instances' inbound sidecars → grpc-js or raw h2c apps in this process):
// - a call that reached no app (a dead endpoint, a peer sidecar whose app is down) goes to another
//   endpoint, as HTTP/1.1 requests do — grpc-js does not retry UNAVAILABLE without a service config;
// - an app's own 503 carrying the proxies' reason header is not taken for a proxy's (not sent again,
//   the header removed at the app's sidecar);
// - outlier detection counts a trailers-only gRPC error by its HTTP equivalent (UNAVAILABLE: 503);
// - a call cut after its head counts as an error (grpc_status="13", INTERNAL, as the client reports
//   it) in the metrics, and the access log carries grpc_status;
// - a route timeout runs from the end of the request: a bidi or client-streaming call is not cut
//   while its client still sends (Envoy's route timeout);
// - a route's retries apply to gRPC calls (retryOn: [unavailable] with nonIdempotent; they were
//   ignored on HTTP/2);
// - the proxy's own answers to gRPC calls are gRPC statuses with a message (trailers-only, as Envoy's
//   local replies): grpc-js said "Received HTTP status code 503" and lost the why.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import http2 from 'node:http2';
import { request as httpRequestRaw } from 'node:http';
import type { MeshSnapshot } from '../../src/lib/mesh-protocol.js';
import { httpRequest, portBlock, waitFor } from './harness/berth.js';
import { HOST, startProxy, type ProxyUnderTest } from './mesh-helpers/proxy.js';
import { grpc, identity, method } from './mesh-helpers/grpc-raw.js';

const definition = { Hello: method('Hello', false, false), Upload: method('Upload', true, false), Chat: method('Chat', true, true), Slow: method('Slow', false, false) };
const GreeterClient = grpc.makeGenericClientConstructor(definition, 'Greeter');
type Client = InstanceType<typeof GreeterClient>;
type ServiceError = import('@grpc/grpc-js').ServiceError;
type Unary = import('@grpc/grpc-js').ServerUnaryCall<Buffer, Buffer>;
type Done = import('@grpc/grpc-js').sendUnaryData<Buffer>;
type Reading = import('@grpc/grpc-js').ServerReadableStream<Buffer, Buffer>;
type Duplex = import('@grpc/grpc-js').ServerDuplexStream<Buffer, Buffer>;

/** A grpc-js greeter; `unavailable`: every Hello fails UNAVAILABLE (a trailers-only answer). Counts its Hello calls. */
async function greeter(port: number, opts: { unavailable?: boolean } = {}): Promise<{ server: import('@grpc/grpc-js').Server; hellos: () => number }> {
  let hellos = 0;
  const server = new grpc.Server();
  server.addService(definition, {
    Hello: (call: Unary, cb: Done) => {
      hellos++;
      if (opts.unavailable) return cb({ code: grpc.status.UNAVAILABLE, details: 'backend down' });
      cb(null, Buffer.from(`hello ${call.request.toString()}`));
    },
    Upload: (call: Reading, cb: Done) => {
      let n = 0;
      call.on('data', (d: Buffer) => (n += d.length));
      call.on('end', () => cb(null, Buffer.from(String(n))));
    },
    Chat: (call: Duplex) => {
      call.on('data', (d: Buffer) => call.write(Buffer.from(`echo ${d.toString()}`)));
      call.on('end', () => call.end());
    },
    Slow: (call: Unary, cb: Done) => {
      setTimeout(() => cb(null, Buffer.from('slow done')), Number(call.request.toString()));
    },
  });
  await new Promise<void>((resolve, reject) => server.bindAsync(`${HOST}:${port}`, grpc.ServerCredentials.createInsecure(), (err) => (err ? reject(err) : resolve())));
  return { server, hellos: () => hellos };
}

function unary(c: Client, name: 'Hello' | 'Slow', msg: string): Promise<{ err: ServiceError | null; value?: Buffer; ms: number }> {
  const started = performance.now();
  return new Promise((resolve) => {
    c.makeUnaryRequest(definition[name].path, identity, identity, Buffer.from(msg), (err: ServiceError | null, value?: Buffer) => resolve({ err, value, ms: performance.now() - started }));
  });
}

const snapshot = (endpoints: { id: string; port: number }[], service: Record<string, unknown> = {}): MeshSnapshot =>
  ({
    version: 1,
    app: 't',
    config: { accessLog: true, services: { greeter: { protocol: 'grpc', ...service } } },
    services: [{ name: 'greeter', port: 1, endpoints: endpoints.map((e) => ({ id: e.id, host: HOST, port: e.port, variant: 'default' })) }],
  }) as MeshSnapshot;

/** The sidecars of a test: stopped after it. */
const started: ProxyUnderTest[] = [];
after(() => {
  for (const p of started) p.child.kill('SIGKILL');
});
async function sidecar(id: string, inbound: number, app: number, admin: number, snap: MeshSnapshot, outbound: Record<string, number> = {}): Promise<ProxyUnderTest> {
  // The instance's service is its id's first word (greeter-1 → greeter): its inbound proxy reads the app's protocol under that name.
  const p = await startProxy({ id, inbound, app, admin, outbound, snapshot: snap, env: { BERTH_SERVICE: id.split('-')[0] } });
  started.push(p);
  return p;
}

/** A greeter behind its sidecar, called through a caller's outbound sidecar (6 ports from `base`); `service`: the greeter's routes or policy. */
async function greeterBehindPair(base: number, service: Record<string, unknown>): Promise<{ app: Awaited<ReturnType<typeof greeter>>; client: Client }> {
  const P = { app: base, inB: base + 1, adminB: base + 2, outA: base + 3, inA: base + 4, adminA: base + 5 };
  const app = await greeter(P.app);
  const snap = snapshot([{ id: 'greeter-1', port: P.inB }], service);
  await sidecar('greeter-1', P.inB, P.app, P.adminB, snap);
  await sidecar('caller-1', P.inA, 1, P.adminA, snap, { greeter: P.outA });
  return { app, client: new GreeterClient(`${HOST}:${P.outA}`, grpc.credentials.createInsecure()) };
}

describe('gRPC calls that reached no app', () => {
  const base = portBlock(17);
  const P = { app1: base, in1: base + 1, admin1: base + 2, in2: base + 3, admin2: base + 4, app2Down: base + 5, dead: base + 6, outA: base + 7, inA: base + 8, adminA: base + 9, h2app: base + 10, inH: base + 11, adminH: base + 12, outB: base + 13, inB: base + 14, adminB: base + 15 };
  let app: Awaited<ReturnType<typeof greeter>>;
  let client: Client;

  before(async () => {
    app = await greeter(P.app1);
    // greeter-1 healthy; a dead address; greeter-2's sidecar up with its app down.
    const snap = snapshot([
      { id: 'greeter-1', port: P.in1 },
      { id: 'greeter-dead', port: P.dead },
      { id: 'greeter-2', port: P.in2 },
    ]);
    await sidecar('greeter-1', P.in1, P.app1, P.admin1, snap);
    await sidecar('greeter-2', P.in2, P.app2Down, P.admin2, snap);
    await sidecar('caller-1', P.inA, 1, P.adminA, snap, { greeter: P.outA });
    client = new GreeterClient(`${HOST}:${P.outA}`, grpc.credentials.createInsecure());
  });
  after(() => {
    client?.close();
    app?.server.forceShutdown();
  });

  test('go to another endpoint: every unary and client-streaming call succeeds, each delivered once', async () => {
    const failures: string[] = [];
    for (let i = 0; i < 30; i++) {
      const r = await unary(client, 'Hello', `n${i}`);
      if (r.err) failures.push(`${grpc.status[r.err.code]}: ${r.err.details}`);
      else assert.equal(r.value?.toString(), `hello n${i}`);
    }
    assert.deepEqual(failures, [], 'no call fails while a healthy endpoint is there');
    assert.equal(app.hellos(), 30, 'each call reached the app once');
    // A client-streaming call (its body kept while it can be sent again) is sent again too.
    for (let i = 0; i < 6; i++) {
      const n = await new Promise<string>((resolve, reject) => {
        const call = client.makeClientStreamRequest(definition.Upload.path, identity, identity, (err: ServiceError | null, v?: Buffer) => (err ? reject(err) : resolve(v!.toString())));
        for (let k = 0; k < 4; k++) call.write(Buffer.alloc(1000, k));
        call.end();
      });
      assert.equal(n, '4000');
    }
  });

  test("an app's own 503 with the proxies' reason header is not taken for a proxy's: answered once, not sent again, the header removed", async () => {
    let deliveries = 0;
    const server = http2.createServer();
    server.on('stream', (stream) => {
      deliveries++;
      stream.resume();
      stream.respond({ ':status': 503, 'x-berth-reason': 'draining' });
      stream.end('my dependency is draining');
    });
    await new Promise<void>((r) => server.listen(P.h2app, HOST, r));
    try {
      const snap: MeshSnapshot = {
        version: 1,
        app: 't',
        config: { accessLog: false, services: { relay: { protocol: 'h2c' } } },
        services: [{ name: 'relay', port: 1, endpoints: [{ id: 'relay-1', host: HOST, port: P.inH, variant: 'default' }] }],
      };
      await sidecar('relay-1', P.inH, P.h2app, P.adminH, snap);
      await sidecar('caller-2', P.inB, 1, P.adminB, snap, { relay: P.outB });
      const session = http2.connect(`http://${HOST}:${P.outB}`);
      try {
        const answer = await new Promise<{ status: number; reason: unknown }>((resolve, reject) => {
          const s = session.request({ ':method': 'POST', ':path': '/order' });
          s.on('response', (h) => resolve({ status: Number(h[':status']), reason: h['x-berth-reason'] }));
          s.on('error', reject);
          s.resume();
          s.end('one order');
        });
        assert.equal(answer.status, 503);
        assert.equal(answer.reason, undefined, "the app's reason header does not leave its sidecar");
        await new Promise((r) => setTimeout(r, 300));
        assert.equal(deliveries, 1, 'the POST reached the app once');
      } finally {
        session.close();
      }
    } finally {
      server.close();
    }
  });
});

describe('gRPC errors, outlier detection, metrics and the access log', () => {
  const base = portBlock(13);
  const P = { appGood: base, inGood: base + 1, adminGood: base + 2, appBad: base + 3, inBad: base + 4, adminBad: base + 5, outA: base + 6, inA: base + 7, adminA: base + 8, raw: base + 9, inRaw: base + 10, adminRaw: base + 11, outCut: base + 12 };
  let good: Awaited<ReturnType<typeof greeter>>;
  let bad: Awaited<ReturnType<typeof greeter>>;
  let rawApp: http2.Http2Server;
  let caller: ProxyUnderTest;
  let log = '';
  let client: Client;

  before(async () => {
    good = await greeter(P.appGood);
    bad = await greeter(P.appBad, { unavailable: true });
    // A raw h2c "gRPC" app that sends its head and one message, then drops the connection.
    rawApp = http2.createServer();
    rawApp.on('stream', (stream) => {
      stream.on('error', () => {});
      stream.respond({ ':status': 200, 'content-type': 'application/grpc' });
      stream.write(Buffer.from([0, 0, 0, 0, 4, 112, 97, 114, 116]));
      setTimeout(() => stream.session?.destroy(), 50);
    });
    await new Promise<void>((r) => rawApp.listen(P.raw, HOST, r));
    const snap: MeshSnapshot = {
      version: 1,
      app: 't',
      config: {
        accessLog: true,
        services: {
          greeter: { protocol: 'grpc', policy: { balancer: 'round_robin', outlierDetection: { consecutive5xxErrors: 3, consecutiveGatewayErrors: 0, interval: 10_000, baseEjectionTime: 30_000, maxEjectionPercent: 50 } } },
          cutter: { protocol: 'grpc' },
        },
      },
      services: [
        {
          name: 'greeter',
          port: 1,
          endpoints: [
            { id: 'greeter-good', host: HOST, port: P.inGood, variant: 'default' },
            { id: 'greeter-bad', host: HOST, port: P.inBad, variant: 'default' },
          ],
        },
        { name: 'cutter', port: 2, endpoints: [{ id: 'cutter-1', host: HOST, port: P.inRaw, variant: 'default' }] },
      ],
    };
    await sidecar('greeter-good', P.inGood, P.appGood, P.adminGood, snap);
    await sidecar('greeter-bad', P.inBad, P.appBad, P.adminBad, snap);
    await sidecar('cutter-1', P.inRaw, P.raw, P.adminRaw, snap);
    caller = await sidecar('caller-1', P.inA, 1, P.adminA, snap, { greeter: P.outA, cutter: P.outCut });
    caller.child.stdout!.on('data', (d: Buffer) => (log += d.toString()));
    client = new GreeterClient(`${HOST}:${P.outA}`, grpc.credentials.createInsecure());
  });
  after(() => {
    client?.close();
    good?.server.forceShutdown();
    bad?.server.forceShutdown();
    rawApp?.close();
  });

  test('a trailers-only UNAVAILABLE counts as a 503 for outlier detection: the failing endpoint is ejected after 3', async () => {
    let unavailable = 0;
    for (let i = 0; i < 40; i++) {
      const r = await unary(client, 'Hello', `n${i}`);
      if (r.err?.code === grpc.status.UNAVAILABLE) unavailable++;
      else assert.equal(r.err, null);
    }
    assert.equal(unavailable, 3, 'three failures, then the endpoint is ejected');
    assert.equal(bad.hellos(), 3);
    assert.equal(good.hellos(), 37);
  });

  test('the access log carries grpc_status; a call cut after its head counts as an error (grpc_status="13"), not a success', async () => {
    const cutClient = new GreeterClient(`${HOST}:${P.outCut}`, grpc.credentials.createInsecure());
    try {
      const r = await unary(cutClient, 'Hello', 'x');
      assert.ok(r.err, 'the call fails');
      assert.equal(r.err.code, grpc.status.INTERNAL, `${r.err.code} ${r.err.details}`);
    } finally {
      cutClient.close();
    }
    const metrics = await waitFor('the cut call in the metrics', async () => {
      const text = (await httpRequest(`http://${HOST}:${P.adminA}/metrics`)).body;
      return /berth_proxy_requests_total\{[^}]*destination="cutter"[^}]*grpc_status="13"\} 1/.test(text) ? text : undefined;
    }, 5000);
    assert.doesNotMatch(metrics, /destination="cutter"[^}]*code="200"\} /, 'not counted as a plain success');
    await waitFor('access log lines', () => log.includes('"service":"cutter"'), 5000);
    const lines = log.trim().split('\n').map((l) => JSON.parse(l) as { service: string; status: number; grpc_status?: number });
    assert.ok(lines.some((l) => l.service === 'greeter' && l.grpc_status === 14), 'an UNAVAILABLE call is logged with grpc_status 14');
    assert.ok(lines.some((l) => l.service === 'greeter' && l.grpc_status === 0), 'a good call with grpc_status 0');
    assert.ok(lines.some((l) => l.service === 'cutter' && l.grpc_status === 13), 'the cut call with grpc_status 13');
  });
});

describe('a route timeout on streaming gRPC calls', () => {
  let app: Awaited<ReturnType<typeof greeter>>;
  let client: Client;

  before(async () => {
    ({ app, client } = await greeterBehindPair(portBlock(6), { routes: [{ name: 'all', timeout: 500 }] }));
  });
  after(() => {
    client?.close();
    app?.server.forceShutdown();
  });

  test('runs from the end of the request: a bidi call sending for 1.2 s is not cut; a slow unary answer still is (504 → UNAVAILABLE)', async () => {
    const echoes = await new Promise<string[]>((resolve, reject) => {
      const got: string[] = [];
      const call = client.makeBidiStreamRequest(definition.Chat.path, identity, identity);
      call.on('data', (d: Buffer) => got.push(d.toString()));
      call.on('error', reject);
      call.on('end', () => resolve(got));
      let i = 0;
      const t = setInterval(() => {
        if (i === 12) {
          clearInterval(t);
          call.end();
          return;
        }
        call.write(Buffer.from(String(i++)));
      }, 100);
    });
    assert.equal(echoes.length, 12);
    const upload = await new Promise<string>((resolve, reject) => {
      const call = client.makeClientStreamRequest(definition.Upload.path, identity, identity, (err: ServiceError | null, v?: Buffer) => (err ? reject(err) : resolve(v!.toString())));
      let i = 0;
      const t = setInterval(() => {
        if (i++ === 10) {
          clearInterval(t);
          call.end();
          return;
        }
        call.write(Buffer.alloc(100));
      }, 100);
    });
    assert.equal(upload, '1000');
    const slow = await unary(client, 'Slow', '1500');
    assert.equal(slow.err?.code, grpc.status.UNAVAILABLE, 'the route timeout answered 504');
    assert.ok(slow.ms < 1200, `cut at the timeout (${Math.round(slow.ms)} ms)`);
  });
});

describe('connection pool limits on gRPC streams', () => {
  let app: Awaited<ReturnType<typeof greeter>>;
  let client: Client;

  before(async () => {
    // Istio's circuit-breaker sample: one connection, one pending request.
    ({ app, client } = await greeterBehindPair(portBlock(6), { policy: { balancer: 'round_robin', connectionPool: { maxConnections: 1, maxPendingRequests: 1 } } }));
  });
  after(() => {
    client?.close();
    app?.server.forceShutdown();
  });

  test('maxConnections caps HTTP/2 connections, not streams: four long-lived streams and a unary call share one connection (as Envoy)', async () => {
    const calls = Array.from({ length: 4 }, () => client.makeBidiStreamRequest(definition.Chat.path, identity, identity));
    try {
      const firstEchoes = calls.map(
        (call, i) =>
          new Promise<string>((resolve, reject) => {
            call.once('data', (d: Buffer) => resolve(d.toString()));
            call.on('error', reject);
            call.write(Buffer.from(`s${i}`));
          }),
      );
      assert.deepEqual(await Promise.all(firstEchoes), ['echo s0', 'echo s1', 'echo s2', 'echo s3']);
      const r = await unary(client, 'Hello', 'while four streams are open');
      assert.equal(r.err, null, r.err ? `${grpc.status[r.err.code]}: ${r.err.details}` : '');
    } finally {
      for (const call of calls) call.end();
    }
  });
});

describe("a route's retries on gRPC calls", () => {
  const base = portBlock(9);
  const P = { appGood: base, inGood: base + 1, adminGood: base + 2, appBad: base + 3, inBad: base + 4, adminBad: base + 5, outA: base + 6, inA: base + 7, adminA: base + 8 };
  let good: Awaited<ReturnType<typeof greeter>>;
  let bad: Awaited<ReturnType<typeof greeter>>;
  let client: Client;

  before(async () => {
    good = await greeter(P.appGood);
    bad = await greeter(P.appBad, { unavailable: true });
    const snap = snapshot(
      [
        { id: 'greeter-1', port: P.inGood },
        { id: 'greeter-2', port: P.inBad },
      ],
      { routes: [{ name: 'all', retries: { attempts: 2, retryOn: ['unavailable'], nonIdempotent: true } }], policy: { balancer: 'round_robin' } },
    );
    await sidecar('greeter-1', P.inGood, P.appGood, P.adminGood, snap);
    await sidecar('greeter-2', P.inBad, P.appBad, P.adminBad, snap);
    await sidecar('caller-1', P.inA, 1, P.adminA, snap, { greeter: P.outA });
    client = new GreeterClient(`${HOST}:${P.outA}`, grpc.credentials.createInsecure());
  });
  after(() => {
    client?.close();
    good?.server.forceShutdown();
    bad?.server.forceShutdown();
  });

  test('retryOn unavailable: a call an instance fails UNAVAILABLE is answered by the other one', async () => {
    const failures: string[] = [];
    for (let i = 0; i < 20; i++) {
      const r = await unary(client, 'Hello', `n${i}`);
      if (r.err) failures.push(`${grpc.status[r.err.code]}: ${r.err.details}`);
      else assert.equal(r.value?.toString(), `hello n${i}`);
    }
    assert.deepEqual(failures, []);
    assert.equal(good.hellos(), 20);
    assert.ok(bad.hellos() >= 5, `round robin sent calls to the failing instance first (${bad.hellos()})`);
  });
});

describe("the proxy's own answers to gRPC calls", () => {
  const base = portBlock(8);
  const P = { app: base, inB: base + 1, adminB: base + 2, outA: base + 3, inA: base + 4, adminA: base + 5, outEmpty: base + 6 };
  let app: Awaited<ReturnType<typeof greeter>>;
  let client: Client;
  let empty: Client;

  before(async () => {
    app = await greeter(P.app);
    const snap: MeshSnapshot = {
      version: 1,
      app: 't',
      config: {
        accessLog: false,
        services: {
          greeter: {
            protocol: 'grpc',
            routes: [
              { name: 'hello', match: { path: { prefix: '/test.Greeter/Hello' } }, rateLimit: { requestsPerSecond: 0.01, burst: 1 } },
              // A fault abort with a status gRPC maps to UNKNOWN: an error for the client, and so for the metrics.
              { name: 'upload', match: { path: { prefix: '/test.Greeter/Upload' } }, fault: { abort: { percent: 100, status: 200 } } },
            ],
          },
          nobody: { protocol: 'grpc' },
        },
      },
      services: [
        { name: 'greeter', port: 1, endpoints: [{ id: 'greeter-1', host: HOST, port: P.inB, variant: 'default' }] },
        { name: 'nobody', port: 2, endpoints: [] },
      ],
    };
    await sidecar('greeter-1', P.inB, P.app, P.adminB, snap);
    await sidecar('caller-1', P.inA, 1, P.adminA, snap, { greeter: P.outA, nobody: P.outEmpty });
    client = new GreeterClient(`${HOST}:${P.outA}`, grpc.credentials.createInsecure());
    empty = new GreeterClient(`${HOST}:${P.outEmpty}`, grpc.credentials.createInsecure());
  });
  after(() => {
    client?.close();
    empty?.close();
    app?.server.forceShutdown();
  });

  test('grpc-js gets the gRPC status and the why: UNAVAILABLE for no endpoint and a rate limit, UNIMPLEMENTED for no route', async () => {
    const noEndpoint = await unary(empty, 'Hello', 'x');
    assert.equal(noEndpoint.err?.code, grpc.status.UNAVAILABLE);
    assert.equal(noEndpoint.err?.details, 'no ready endpoint for nobody');
    assert.deepEqual(noEndpoint.err?.metadata.get('x-berth-reason'), ['no-healthy-upstream']);

    assert.equal((await unary(client, 'Hello', 'one')).value?.toString(), 'hello one');
    const limited = await unary(client, 'Hello', 'two');
    assert.equal(limited.err?.code, grpc.status.UNAVAILABLE);
    assert.match(limited.err?.details ?? '', /rate limit/);
    assert.deepEqual(limited.err?.metadata.get('x-berth-reason'), ['rate-limited']);

    const noRoute = await unary(client, 'Slow', '1');
    assert.equal(noRoute.err?.code, grpc.status.UNIMPLEMENTED);
    assert.equal(noRoute.err?.details, 'no route of greeter matches this request');
    assert.equal(app.hellos(), 1);

    const metrics = (await httpRequest(`http://${HOST}:${P.adminA}/metrics`)).body;
    assert.match(metrics, /destination="nobody"[^}]*code="503",grpc_status="14"\} 1/);
    assert.match(metrics, /destination="greeter"[^}]*code="429",grpc_status="14"\} 1/);
    assert.match(metrics, /destination="greeter"[^}]*code="404",grpc_status="12"\} 1/);
  });

  test('a fault abort of status 200 is UNKNOWN for grpc-js and counted so; an HTTP/1.1 request with a gRPC content type gets a plain answer, unlabelled', async () => {
    const aborted = await new Promise<ServiceError | null>((resolve) => {
      const call = client.makeClientStreamRequest(definition.Upload.path, identity, identity, (err: ServiceError | null) => resolve(err));
      call.write(Buffer.from('x'));
      call.end();
    });
    assert.equal(aborted?.code, grpc.status.UNKNOWN);
    assert.equal(aborted?.details, 'fault injected');
    const plain = await new Promise<{ status: number; type: string | undefined }>((resolve, reject) => {
      const req = httpRequestRaw({ host: HOST, port: P.outEmpty, method: 'POST', path: '/test.Greeter/Hello', headers: { 'content-type': 'application/grpc' } }, (res) => {
        res.resume();
        res.on('end', () => resolve({ status: res.statusCode ?? 0, type: res.headers['content-type'] }));
      });
      req.on('error', reject);
      req.end();
    });
    assert.deepEqual(plain, { status: 503, type: 'text/plain; charset=utf-8' });
    const metrics = (await httpRequest(`http://${HOST}:${P.adminA}/metrics`)).body;
    assert.match(metrics, /destination="greeter",[^}]*route="upload"[^}]*code="200",grpc_status="2"\} 1/);
    assert.match(metrics, /destination="nobody"[^}]*code="503"\} 1/, 'the HTTP/1.1 answer has no gRPC status');
  });

  test('on the wire: one HEADERS frame that ends the stream, :status 200, application/grpc, a percent-encoded grpc-message', async () => {
    const session = http2.connect(`http://${HOST}:${P.outEmpty}`);
    try {
      const answer = await new Promise<{ headers: http2.IncomingHttpHeaders; flags: number; data: number }>((resolve, reject) => {
        const s = session.request({ ':method': 'POST', ':path': '/Greeter/Hello', 'content-type': 'application/grpc', te: 'trailers' });
        let data = 0;
        let head: { headers: http2.IncomingHttpHeaders; flags: number } | undefined;
        s.on('response', (headers, flags) => (head = { headers, flags }));
        s.on('data', (d: Buffer) => (data += d.length));
        s.on('error', reject);
        s.on('close', () => (head ? resolve({ ...head, data }) : reject(new Error('no answer'))));
        s.end(Buffer.from([0, 0, 0, 0, 0]));
      });
      assert.equal(answer.headers[':status'], 200);
      assert.equal(answer.headers['content-type'], 'application/grpc');
      assert.equal(answer.headers['grpc-status'], '14');
      assert.equal(answer.headers['grpc-message'], 'no ready endpoint for nobody');
      assert.ok((answer.flags & http2.constants.NGHTTP2_FLAG_END_STREAM) !== 0, 'trailers-only');
      assert.equal(answer.data, 0);
    } finally {
      session.close();
    }
  });
});
