// HTTP/2 through the mesh, real processes: gRPC (@grpc/grpc-js) unary, server streaming, bidi
// streaming and an error status through two sidecars (a caller instance's outbound port → the
// callee's inbound proxy → the app), gRPC through the gateway (the service's 127.0.0.1 address),
// and plain h2c with trailers through the gateway (to an app declared `protocol: h2c`; an `http` app
// gets HTTP/1.1, see mesh-h2.test.ts). HTTP/1.1 keeps working on the same ports.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import http2 from 'node:http2';
import { join } from 'node:path';
import { meshPorts } from '../../src/lib/mesh-protocol.js';
import { berth, berthOk, httpRequest, portBlock, ps, repoRoot, tempApp, waitFor } from './harness/berth.js';
import { grpc, identity, method } from './mesh-helpers/grpc-raw.js';

const definition = { Hello: method('Hello', false, false), Count: method('Count', false, true), Chat: method('Chat', true, true), Fail: method('Fail', false, false) };

const greeterJs = `import { createRequire } from 'node:module';
const require = createRequire(${JSON.stringify(join(repoRoot, 'package.json'))});
const grpc = require('@grpc/grpc-js');
const id = (b) => b;
const m = (name, requestStream, responseStream) => ({ path: '/test.Greeter/' + name, requestStream, responseStream, requestSerialize: id, requestDeserialize: id, responseSerialize: id, responseDeserialize: id });
const server = new grpc.Server();
server.addService({ Hello: m('Hello', false, false), Count: m('Count', false, true), Chat: m('Chat', true, true), Fail: m('Fail', false, false) }, {
  Hello: (call, cb) => cb(null, Buffer.from('hello ' + call.request + ' from ' + process.env.BERTH_INSTANCE)),
  Count: (call) => { const n = Number(String(call.request)); for (let i = 1; i <= n; i++) call.write(Buffer.from(String(i))); call.end(); },
  Chat: (call) => { call.on('data', (d) => call.write(Buffer.from('echo ' + d))); call.on('end', () => call.end()); },
  Fail: (call, cb) => cb({ code: grpc.status.NOT_FOUND, details: 'no such greeting' }),
});
server.bindAsync(process.env.HOST + ':' + process.env.PORT, grpc.ServerCredentials.createInsecure(), (err) => { if (err) { console.error(err); process.exit(1); } });
process.on('SIGTERM', () => server.tryShutdown(() => process.exit(0)));`;

// A plain h2c server (no gRPC): echoes the path and the request body, sends a trailer; HTTP/1.1 is not spoken here.
const h2appJs = `import http2 from 'node:http2';
const server = http2.createServer();
server.on('stream', (stream, headers) => {
  let body = '';
  stream.on('data', (d) => (body += d));
  stream.on('end', () => {
    stream.respond({ ':status': 200, 'x-app': 'h2app' }, { waitForTrailers: true });
    stream.on('wantTrailers', () => stream.sendTrailers({ 'x-checksum': String(body.length) }));
    stream.end(headers[':method'] + ' ' + headers[':path'] + ' ' + body);
  });
});
server.listen(Number(process.env.PORT), process.env.HOST);
process.on('SIGTERM', () => server.close(() => process.exit(0)));`;

const plainJs = `import http from 'node:http';
const server = http.createServer((q, s) => s.end('caller ok'));
server.listen(Number(process.env.PORT), process.env.HOST);
process.on('SIGTERM', () => server.close(() => process.exit(0)));`;

let dir = '';
let port = 0;
const GreeterClient = grpc.makeGenericClientConstructor(definition, 'Greeter');
type Client = InstanceType<typeof GreeterClient>;
const clients: Client[] = [];

before(async () => {
  port = portBlock();
  dir = tempApp({
    'greeter.mjs': greeterJs,
    'h2app.mjs': h2appJs,
    'caller.mjs': plainJs,
    'berth.yaml': `app: grpc
services:
  caller:
    run: node caller.mjs
    port: ${port}
    uses: [greeter]
  greeter:
    run: node greeter.mjs
    port: ${port + 1}
    protocol: grpc
    replicas: 2
    probes:
      readiness: { tcp: {} }
  h2app:
    run: node h2app.mjs
    port: ${port + 2}
    protocol: h2c
    probes:
      readiness: { tcp: {} }
  lazy:
    run: node greeter.mjs
    port: ${port + 3}
    protocol: grpc
    probes:
      readiness: { tcp: {} }
    scale: { min: 0, max: 1, idleSeconds: 1, metrics: [{ rps: 100 }] }
`,
  });
  await berthOk(dir, ['up', '-d', '--wait', '--timeout', '60']);
});

after(async () => {
  for (const c of clients) c.close();
  await berth(dir, ['down']);
});

/** A client on the caller instance's outbound port for greeter: caller's sidecar → greeter's sidecar → greeter. */
async function throughTwoSidecars(): Promise<Client> {
  const caller = (await ps(dir)).find((r) => r.service === 'caller');
  assert.ok(caller);
  const c = new GreeterClient(`${caller.host.split(':')[0]}:${meshPorts(port).outbound(0)}`, grpc.credentials.createInsecure());
  clients.push(c);
  return c;
}

const unary = (c: Client, name: string, payload: string) =>
  new Promise<{ err: import('@grpc/grpc-js').ServiceError | null; value?: string }>((resolve) =>
    c.makeUnaryRequest(definition[name as 'Hello'].path, identity, identity, Buffer.from(payload), new grpc.Metadata(), { deadline: Date.now() + 10_000 }, (err, value) => resolve({ err, value: value?.toString() })),
  );

test('gRPC unary through two sidecars, spread over both greeters', async () => {
  const c = await throughTwoSidecars();
  const seen = new Set<string>();
  for (let i = 0; i < 10; i++) {
    const r = await unary(c, 'Hello', `n${i}`);
    assert.equal(r.err, null, r.err?.message);
    const m = /^hello n\d from (greeter-\S+)$/.exec(r.value ?? '');
    assert.ok(m, r.value);
    seen.add(m[1]);
  }
  assert.equal(seen.size, 2, 'both greeter instances answered');
});

test('gRPC server streaming and bidi streaming through two sidecars', async () => {
  const c = await throughTwoSidecars();
  const counted = await new Promise<string[]>((resolve, reject) => {
    const got: string[] = [];
    const call = c.makeServerStreamRequest(definition.Count.path, identity, identity, Buffer.from('50'), new grpc.Metadata(), { deadline: Date.now() + 10_000 });
    call.on('data', (d: Buffer) => got.push(d.toString()));
    call.on('error', reject);
    call.on('end', () => resolve(got));
  });
  assert.deepEqual(counted, Array.from({ length: 50 }, (_, i) => String(i + 1)));

  const echoed = await new Promise<string[]>((resolve, reject) => {
    const got: string[] = [];
    const call = c.makeBidiStreamRequest(definition.Chat.path, identity, identity, new grpc.Metadata(), { deadline: Date.now() + 10_000 });
    call.on('data', (d: Buffer) => {
      got.push(d.toString());
      // Ping-pong: the next message goes only after the answer to the previous one came back through both proxies.
      if (got.length < 5) call.write(Buffer.from(`m${got.length}`));
      else call.end();
    });
    call.on('error', reject);
    call.on('end', () => resolve(got));
    call.write(Buffer.from('m0'));
  });
  assert.deepEqual(echoed, ['echo m0', 'echo m1', 'echo m2', 'echo m3', 'echo m4']);
});

test('a gRPC error status (trailers-only answer) passes through unchanged', async () => {
  const c = await throughTwoSidecars();
  const r = await unary(c, 'Fail', 'x');
  assert.equal(r.err?.code, grpc.status.NOT_FOUND);
  assert.equal(r.err?.details, 'no such greeting');
});

test('gRPC through the gateway (the service address 127.0.0.1:port)', async () => {
  const c = new GreeterClient(`127.0.0.1:${port + 1}`, grpc.credentials.createInsecure());
  clients.push(c);
  const r = await unary(c, 'Hello', 'gw');
  assert.equal(r.err, null, r.err?.message);
  assert.match(r.value ?? '', /^hello gw from greeter-/);
});

test('plain h2c through the gateway: body both ways and trailers; HTTP/1.1 still served on the same ports', async () => {
  const session = http2.connect(`http://127.0.0.1:${port + 2}`);
  try {
    const answer = await new Promise<{ status: number; header: string; body: string; trailers: http2.IncomingHttpHeaders }>((resolve, reject) => {
      const req = session.request({ ':method': 'POST', ':path': '/h2/path?q=1' });
      let status = 0;
      let header = '';
      let body = '';
      let trailers: http2.IncomingHttpHeaders = {};
      req.on('response', (h) => {
        status = Number(h[':status']);
        header = String(h['x-app']);
      });
      req.on('trailers', (t) => (trailers = t));
      req.setEncoding('utf8');
      req.on('data', (d: string) => (body += d));
      req.on('end', () => resolve({ status, header, body, trailers }));
      req.on('error', reject);
      req.end('twelve bytes');
    });
    assert.equal(answer.status, 200);
    assert.equal(answer.header, 'h2app');
    assert.equal(answer.body, 'POST /h2/path?q=1 twelve bytes');
    assert.equal(answer.trailers['x-checksum'], '12');
  } finally {
    session.close();
  }
  // The caller speaks HTTP/1.1 on its service address (the gateway) and its instance address (its inbound proxy).
  assert.equal((await httpRequest(`http://127.0.0.1:${port}/`)).body, 'caller ok');
});

test('a gRPC call to a service scaled to zero is held while an instance starts, then served', async () => {
  await waitFor('lazy at zero', async () => !(await ps(dir)).some((r) => r.service === 'lazy'), 20_000);
  const c = new GreeterClient(`127.0.0.1:${port + 3}`, grpc.credentials.createInsecure());
  clients.push(c);
  const r = await unary(c, 'Hello', 'wake');
  assert.equal(r.err, null, r.err?.message);
  assert.match(r.value ?? '', /^hello wake from lazy-/);
});
