// A mirror route copies HTTP/2 streams too (h2c requests and gRPC calls), through one real
// berth-proxy process: the copy arrives at the shadow with its body and `:authority` suffixed
// "-shadow", the client gets only the primary's answer, and the shadow diff compares the answers —
// a gRPC call's status (in its trailers) included. Before this, mirroring was not applied to HTTP/2
// at all, and `berth validate` warned that a grpc service's mirror copied nothing.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import http2 from 'node:http2';
import type { MeshSnapshot } from '../../src/lib/mesh-protocol.js';
import { httpRequest, portBlock, waitFor } from './harness/berth.js';
import { HOST, startProxy, upstream, type ProxyUnderTest } from './mesh-helpers/proxy.js';
import { grpc, identity, method } from './mesh-helpers/grpc-raw.js';

const base = portBlock(10);
const P = { inbound: base, app: base + 1, admin: base + 2, outH2: base + 3, outGrpc: base + 4, h2Primary: base + 5, h2Shadow: base + 6, grpcPrimary: base + 7, grpcShadow: base + 8 };
const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

interface Arrival {
  method: string;
  path: string;
  authority: string;
  size: number;
  sha: string;
  /** The request headers the route rewrites: authorization (removed) and x-env (set). */
  rewritten: string;
  traceparent: string;
  /** The mesh's field carrying a request's further Referer (Authorization…) lines between proxies. */
  extraLines: string;
}

/** An h2c server that notes each stream whole and answers its body's digest (and who answered, on /diff). */
async function h2Server(port: number, name: string, into: Arrival[]): Promise<http2.Http2Server> {
  const server = http2.createServer();
  server.on('stream', (stream, headers) => {
    const chunks: Buffer[] = [];
    stream.on('data', (d: Buffer) => chunks.push(d));
    stream.on('end', () => {
      const body = Buffer.concat(chunks);
      into.push({ method: String(headers[':method']), path: String(headers[':path']), authority: String(headers[':authority']), size: body.length, sha: sha(body), rewritten: `${headers.authorization} ${headers['x-env']}`, traceparent: String(headers.traceparent), extraLines: String(headers['x-berth-extra-line']) });
      stream.respond({ ':status': 200, 'content-type': 'application/json' });
      stream.end(JSON.stringify({ sha: sha(body), from: String(headers[':path']).startsWith('/diff') ? name : 'either' }));
    });
    stream.on('error', () => {});
  });
  await new Promise<void>((r) => server.listen(port, HOST, r));
  return server;
}

const definition = { Hello: method('Hello', false, false) };
const GreeterClient = grpc.makeGenericClientConstructor(definition, 'Greeter');

/** A grpc-js greeter that notes each call's message; `failOn`: that name fails FAILED_PRECONDITION (a trailers-only answer). */
async function greeter(port: number, calls: string[], opts: { failOn?: string } = {}): Promise<import('@grpc/grpc-js').Server> {
  const server = new grpc.Server();
  server.addService(definition, {
    Hello: (call: import('@grpc/grpc-js').ServerUnaryCall<Buffer, Buffer>, cb: import('@grpc/grpc-js').sendUnaryData<Buffer>) => {
      const who = call.request.toString();
      calls.push(who);
      if (who === opts.failOn) return cb({ code: grpc.status.FAILED_PRECONDITION, details: 'not here' });
      cb(null, Buffer.from(`hello ${who}`));
    },
  });
  await new Promise<void>((resolve, reject) => server.bindAsync(`${HOST}:${port}`, grpc.ServerCredentials.createInsecure(), (err) => (err ? reject(err) : resolve())));
  return server;
}

describe('mirrored copies of HTTP/2 streams (berth-proxy process)', () => {
  const h2Primary: Arrival[] = [];
  const h2Shadow: Arrival[] = [];
  const grpcPrimary: string[] = [];
  const grpcShadow: string[] = [];
  const closers: (() => void)[] = [];
  let proxy: ProxyUnderTest;

  before(async () => {
    const app = await upstream(P.app, 'app');
    const a = await h2Server(P.h2Primary, 'primary', h2Primary);
    const b = await h2Server(P.h2Shadow, 'shadow', h2Shadow);
    const g1 = await greeter(P.grpcPrimary, grpcPrimary);
    // The shadow build fails one name the primary greets: the diff sees the gRPC status.
    const g2 = await greeter(P.grpcShadow, grpcShadow, { failOn: 'mallory' });
    closers.push(() => app.close(), () => a.close(), () => b.close(), () => g1.forceShutdown(), () => g2.forceShutdown());
    const ep = (id: string, port: number) => ({ id, host: HOST, port, variant: 'default' });
    const snapshot: MeshSnapshot = {
      version: 1,
      app: 'mirror-h2',
      config: {
        accessLog: false,
        services: {
          // The route's rewrites: the copy is the request the primary's upstream gets; the diff compares answers before the response rewrite.
          docs: {
            protocol: 'h2c',
            routes: [{ name: 'docs-mirrored', mirror: { service: 'docs-next', percent: 100 }, headers: { request: { remove: ['authorization'], set: { 'x-env': 'prod' } }, response: { set: { 'content-type': 'text/plain' } } } }],
          },
          'docs-next': { protocol: 'h2c' },
          greeter: { protocol: 'grpc', routes: [{ name: 'greeter-mirrored', mirror: { service: 'greeter-next', percent: 100 } }] },
          'greeter-next': { protocol: 'grpc' },
        },
      },
      services: [
        { name: 'self', port: P.inbound, endpoints: [ep('self-1', P.inbound)] },
        { name: 'docs', port: 1, endpoints: [ep('docs-1', P.h2Primary)] },
        { name: 'docs-next', port: 2, endpoints: [ep('docs-next-1', P.h2Shadow)] },
        { name: 'greeter', port: 3, endpoints: [ep('greeter-1', P.grpcPrimary)] },
        { name: 'greeter-next', port: 4, endpoints: [ep('greeter-next-1', P.grpcShadow)] },
      ],
    } as MeshSnapshot;
    proxy = await startProxy({ id: 'self-1', inbound: P.inbound, app: P.app, admin: P.admin, outbound: { docs: P.outH2, greeter: P.outGrpc }, snapshot });
  });
  after(() => {
    proxy?.child.kill('SIGKILL');
    for (const c of closers) c();
  });

  /** One h2c request through the outbound listener: status and body. */
  const h2Call = (path: string, body?: Buffer): Promise<{ status: number; body: string }> =>
    new Promise((resolve, reject) => {
      const session = http2.connect(`http://${HOST}:${P.outH2}`);
      session.on('error', reject);
      const req = session.request({ ':method': body ? 'POST' : 'GET', ':path': path, authorization: 'Bearer user-token', 'x-env': 'client' }, { endStream: !body });
      let status = 0;
      let text = '';
      req.on('response', (h) => (status = Number(h[':status'])));
      req.on('data', (d: Buffer) => (text += d.toString()));
      req.on('end', () => {
        session.close();
        resolve({ status, body: text });
      });
      req.on('error', reject);
      if (body) {
        // In pieces, as a client streams an upload.
        const step = Math.ceil(body.length / 4);
        for (let at = 0; at < body.length; at += step) req.write(body.subarray(at, at + step));
        req.end();
      }
    });

  const shadowCounts = async (route: string): Promise<{ same: number; diff: number; error: number }> => {
    const c = JSON.parse((await httpRequest(`http://${HOST}:${P.admin}/mesh/shadow`)).body).counts.find((x: { route: string }) => x.route === route);
    return c ?? { same: 0, diff: 0, error: 0 };
  };

  test('h2c: bodiless and streamed requests reach the shadow whole; the client gets the primary', async () => {
    const big = randomBytes(150 * 1024);
    const get = await h2Call('/same/get');
    assert.equal(get.status, 200);
    const post = await h2Call('/same/upload', big);
    assert.equal(JSON.parse(post.body).sha, sha(big), 'the primary got the upload whole');
    const copies = await waitFor('both copies at the shadow', () => (h2Shadow.length >= 2 ? h2Shadow : undefined), 5000);
    assert.deepEqual(
      copies.map((c) => [c.method, c.path, c.authority, c.size, c.sha, c.rewritten]),
      [
        ['GET', '/same/get', `${HOST}-shadow:${P.outH2}`, 0, sha(Buffer.alloc(0)), 'undefined prod'],
        ['POST', '/same/upload', `${HOST}-shadow:${P.outH2}`, big.length, sha(big), 'undefined prod'],
      ],
      "the copies carry the body and the route's request rewrites (a removed credential never reaches the shadow)",
    );
    assert.deepEqual(
      h2Primary.map((c) => c.rewritten),
      ['undefined prod', 'undefined prod'],
    );
    assert.equal(h2Primary.length, 2, 'the primary got each request once');
    // A copy is a call of its own in the trace: the primary's trace id, a parent id of its own.
    for (const [i, copy] of copies.entries()) {
      const [, copyTrace, copyParent] = copy.traceparent.split('-');
      const [, trace, parent] = h2Primary.find((p) => p.path === copy.path)!.traceparent.split('-');
      assert.deepEqual([copyTrace, copyParent === parent], [trace, false], `copy ${i}: ${copy.traceparent}`);
    }
  });

  test('h2c: a request\'s second Referer line reaches the shadow as it reaches the primary (curl)', async () => {
    const before = { primary: h2Primary.length, shadow: h2Shadow.length };
    const r = await new Promise<{ code: number; err: string }>((resolve) =>
      execFile('curl', ['-sS', '--max-time', '10', '--http2-prior-knowledge', '-H', 'Referer: /r1', '-H', 'Referer: /r2', '-o', '/dev/null', `http://${HOST}:${P.outH2}/dup/referer`], (err, _out, stderr) => resolve({ code: err ? 1 : 0, err: stderr })),
    );
    assert.equal(r.code, 0, r.err);
    const copy = await waitFor('the copy at the shadow', () => h2Shadow.slice(before.shadow).find((c) => c.path === '/dup/referer'), 5000);
    const primary = h2Primary.slice(before.primary).find((c) => c.path === '/dup/referer');
    assert.equal(primary?.extraLines, 'referer:/r2');
    assert.equal(copy.extraLines, primary.extraLines);
  });

  test('h2c: the shadow diff compares the copies\' answers', async () => {
    await waitFor('shadow diff loaded', async () => (await httpRequest(`http://${HOST}:${P.admin}/metrics`)).body.includes('berth_proxy_shadow_compared_total'), 5000);
    const before = await shadowCounts('docs-mirrored');
    await h2Call('/same/x', Buffer.from('{"a":1}'));
    const diff = await h2Call('/diff/y');
    assert.equal(JSON.parse(diff.body).from, 'primary', 'the client gets the primary');
    const after = await waitFor('two comparisons', async () => {
      const c = await shadowCounts('docs-mirrored');
      return c.same + c.diff + c.error - (before.same + before.diff + before.error) >= 2 ? c : undefined;
    });
    assert.deepEqual({ same: after.same - before.same, diff: after.diff - before.diff, error: after.error - before.error }, { same: 1, diff: 1, error: 0 });
  });

  test('gRPC (grpc-js): calls are copied to the shadow; a status that differs is a diff', async () => {
    const client = new GreeterClient(`${HOST}:${P.outGrpc}`, grpc.credentials.createInsecure());
    try {
      const call = (who: string) =>
        new Promise<{ err: import('@grpc/grpc-js').ServiceError | null; value?: Buffer }>((resolve) =>
          client.makeUnaryRequest(definition.Hello.path, identity, identity, Buffer.from(who), (err, value) => resolve({ err, value })),
        );
      await waitFor('shadow diff loaded', async () => (await httpRequest(`http://${HOST}:${P.admin}/metrics`)).body.includes('berth_proxy_shadow_compared_total'), 5000);
      const before = await shadowCounts('greeter-mirrored');
      const alice = await call('alice');
      assert.equal(alice.value?.toString(), 'hello alice');
      const mallory = await call('mallory');
      assert.equal(mallory.err, null, 'the client gets the primary, not the shadow\'s failure');
      assert.equal(mallory.value?.toString(), 'hello mallory');
      await waitFor('both calls at the shadow', () => grpcShadow.length >= 2, 5000);
      assert.deepEqual(grpcShadow, ['alice', 'mallory']);
      assert.deepEqual(grpcPrimary, ['alice', 'mallory']);
      const after = await waitFor('two comparisons', async () => {
        const c = await shadowCounts('greeter-mirrored');
        return c.same + c.diff + c.error - (before.same + before.diff + before.error) >= 2 ? c : undefined;
      });
      assert.deepEqual({ same: after.same - before.same, diff: after.diff - before.diff, error: after.error - before.error }, { same: 1, diff: 1, error: 0 });
      const shadow = JSON.parse((await httpRequest(`http://${HOST}:${P.admin}/mesh/shadow`)).body);
      const last = shadow.recent.filter((d: { route: string }) => d.route === 'greeter-mirrored').at(-1);
      assert.ok(last.fields.some((f: { path: string; expected: string; actual: string }) => f.path === 'header:grpc-status' && f.expected === '0' && f.actual === '9'), JSON.stringify(last.fields));
    } finally {
      client.close();
    }
  });
});
