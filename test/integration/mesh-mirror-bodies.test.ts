// A mirror route copies requests with their bodies (as Istio's mirror does), through one real
// berth-proxy process: sized and chunked bodies, small ones (read whole) and streamed ones, arrive at
// the shadow byte for byte; a body over the copy limit, or one the primary answered before it ended,
// sends no copy; and a POST's shadow answer is compared with the primary's. Before this, only
// bodiless requests were copied (a release's shadow diff of a POST API compared nothing).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import http from 'node:http';
import net from 'node:net';
import { httpRequest, portBlock, waitFor } from './harness/berth.js';
import { HOST, startProxy, upstream, type ProxyUnderTest } from './mesh-helpers/proxy.js';
import type { MeshSnapshot } from '../../src/lib/mesh-protocol.js';
import { MIRROR_BODY_LIMIT } from '../../src/sidecar/proxy/mirror.js';

const base = portBlock(7);
const P = { inbound: base, app: base + 1, admin: base + 2, out: base + 3, primary: base + 4, shadow: base + 5 };
const CLIENT_TRACEPARENT = '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01';
const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

interface Arrival {
  method: string;
  url: string;
  host: string;
  framing: string;
  size: number;
  sha: string;
  /** The request headers the route rewrites: authorization (removed) and x-env (set). */
  rewritten: string;
  traceparent: string;
  /** Every Referer line, in order. */
  referers: string[];
}

/** An upstream that notes each request whole (method, url, host, framing, body size and sha256) and echoes its body's digest. */
function noting(port: number, name: string, into: Arrival[], answer?: (req: http.IncomingMessage, res: http.ServerResponse) => boolean): Promise<http.Server> {
  return upstream(port, name, (req, res) => {
    if (answer?.(req, res)) return;
    const chunks: Buffer[] = [];
    req.on('data', (d: Buffer) => chunks.push(d));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      into.push({ method: req.method!, url: req.url!, host: req.headers.host ?? '', framing: req.headers['transfer-encoding'] ?? `length ${req.headers['content-length']}`, size: body.length, sha: sha(body), rewritten: `${req.headers.authorization} ${req.headers['x-env']}`, traceparent: String(req.headers.traceparent), referers: req.rawHeaders.filter((_, i, raw) => i % 2 === 1 && raw[i - 1].toLowerCase() === 'referer') });
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ size: body.length, sha: sha(body), from: req.url!.startsWith('/diff') ? name : 'either' }));
    });
  });
}

/** POSTs `body` to the outbound listener, in `pieces` writes, sized or chunked. */
function post(path: string, body: Buffer, opts: { chunked?: boolean; pieces?: number } = {}): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string> = { authorization: 'Bearer user-token', 'x-env': 'client', traceparent: CLIENT_TRACEPARENT, ...(opts.chunked ? { 'transfer-encoding': 'chunked' } : { 'content-length': String(body.length) }) };
    const req = http.request({ host: HOST, port: P.out, path, method: 'POST', agent: false, headers }, (res) => {
      let text = '';
      res.on('data', (d: Buffer) => (text += d.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text }));
    });
    req.on('error', reject);
    const n = opts.pieces ?? 1;
    const step = Math.ceil(body.length / n);
    for (let at = 0; at < body.length; at += step) req.write(body.subarray(at, at + step));
    req.end();
  });
}

describe('mirrored copies carry the request body (berth-proxy process)', () => {
  const primary: Arrival[] = [];
  const shadow: Arrival[] = [];
  const servers: http.Server[] = [];
  let proxy: ProxyUnderTest;

  before(async () => {
    // /early is answered 401 at once, before its body has arrived (and the body is never read).
    const early = (req: http.IncomingMessage, res: http.ServerResponse): boolean => {
      if (req.url !== '/early') return false;
      res.writeHead(401, { connection: 'close' });
      res.end('no');
      return true;
    };
    servers.push(await upstream(P.app, 'app'), await noting(P.primary, 'primary', primary, early), await noting(P.shadow, 'shadow', shadow));
    const snapshot: MeshSnapshot = {
      version: 1,
      app: 'mirror-bodies',
      config: {
        accessLog: false,
        // The route's request rewrites apply to the copy too (Envoy shadows the request its upstream gets).
        services: { orders: { routes: [{ name: 'mirrored', mirror: { service: 'orders-next', percent: 100 }, headers: { request: { remove: ['authorization'], set: { 'x-env': 'prod' } } } }] } },
      },
      services: [
        { name: 'self', port: P.inbound, endpoints: [{ id: 'self-1', host: HOST, port: P.inbound, variant: 'default' }] },
        { name: 'orders', port: 1, endpoints: [{ id: 'orders-1', host: HOST, port: P.primary, variant: 'default' }] },
        { name: 'orders-next', port: 2, endpoints: [{ id: 'next-1', host: HOST, port: P.shadow, variant: 'default' }] },
      ],
    };
    proxy = await startProxy({ id: 'self-1', inbound: P.inbound, app: P.app, admin: P.admin, outbound: { orders: P.out }, snapshot });
  });
  after(() => {
    proxy?.child.kill('SIGKILL');
    for (const s of servers) s.close();
  });

  const copyOf = (url: string): Promise<Arrival> => waitFor(`the copy of ${url} at the shadow`, () => shadow.find((a) => a.url === url), 5000);

  test('small and streamed bodies, sized and chunked, reach the shadow byte for byte', async () => {
    const cases = [
      { url: '/small-sized', body: Buffer.from('{"item":1,"qty":2}'), chunked: false, pieces: 1 },
      { url: '/small-chunked', body: Buffer.from('{"item":1}'), chunked: true, pieces: 1 },
      { url: '/big-sized', body: randomBytes(300 * 1024), chunked: false, pieces: 7 },
      { url: '/big-chunked', body: randomBytes(200 * 1024 + 13), chunked: true, pieces: 5 },
    ];
    for (const c of cases) {
      const r = await post(c.url, c.body, c);
      assert.equal(r.status, 200, c.url);
      assert.equal(JSON.parse(r.body).sha, sha(c.body), `${c.url}: the primary got the body whole`);
      const copy = await copyOf(c.url);
      assert.deepEqual(
        { method: copy.method, host: copy.host, size: copy.size, sha: copy.sha, framing: copy.framing, rewritten: copy.rewritten },
        { method: 'POST', host: `${HOST}-shadow:${P.out}`, size: c.body.length, sha: sha(c.body), framing: `length ${c.body.length}`, rewritten: 'undefined prod' },
        `${c.url}: the copy carries the body, with its length, and the route's request rewrites`,
      );
    }
    assert.equal(shadow.filter((a) => a.url.startsWith('/small') || a.url.startsWith('/big')).length, 4, 'one copy each');
  });

  test('a copy is a call of its own in the trace: same trace id and flags, a parent id of its own', async () => {
    await post('/traced', Buffer.from('t'));
    const copy = await copyOf('/traced');
    const first = primary.find((a) => a.url === '/traced')!;
    const [, traceId, , flags] = CLIENT_TRACEPARENT.split('-');
    const parts = (tp: string): string[] => tp.split('-');
    assert.deepEqual([parts(first.traceparent)[1], parts(first.traceparent)[3]], [traceId, flags], first.traceparent);
    assert.deepEqual([parts(copy.traceparent)[1], parts(copy.traceparent)[3]], [traceId, flags], copy.traceparent);
    // Before, the copy carried the primary's parent id: two server spans claimed the one client call.
    assert.notEqual(parts(copy.traceparent)[2], parts(first.traceparent)[2], 'the copy has its own parent id');
  });

  test('every Referer line a client sends reaches the shadow as it reaches the primary (curl)', async () => {
    const r = await new Promise<{ code: number; err: string }>((resolve) =>
      execFile('curl', ['-sS', '--max-time', '10', '-H', 'Referer: /r1', '-H', 'Referer: /r2', '--data-binary', 'x', '-o', '/dev/null', `http://${HOST}:${P.out}/dup-referer`], (err, _out, stderr) => resolve({ code: err ? 1 : 0, err: stderr })),
    );
    assert.equal(r.code, 0, r.err);
    const copy = await copyOf('/dup-referer');
    assert.deepEqual(primary.find((a) => a.url === '/dup-referer')?.referers, ['/r1', '/r2']);
    assert.deepEqual(copy.referers, ['/r1', '/r2']);
  });

  test('a body over the copy limit is not copied; the primary gets it whole', async () => {
    const body = randomBytes(MIRROR_BODY_LIMIT + 1024);
    for (const chunked of [false, true]) {
      const url = `/too-big-${chunked ? 'chunked' : 'sized'}`;
      const r = await post(url, body, { chunked, pieces: 9 });
      assert.equal(JSON.parse(r.body).sha, sha(body), url);
    }
    // A small request after them: its copy arrives, theirs never did.
    await post('/after-too-big', Buffer.from('x'));
    await copyOf('/after-too-big');
    assert.deepEqual(shadow.filter((a) => a.url.startsWith('/too-big')), [], 'an over-limit body was copied');
  });

  test('a body the primary answered before it ended is not copied', async () => {
    const answer = await new Promise<string>((resolve) => {
      const s = net.connect(P.out, HOST);
      let got = '';
      s.on('data', (d: Buffer) => (got += d.toString('latin1')));
      s.on('close', () => resolve(got));
      s.on('error', () => {});
      // 100 KiB declared (streamed, past the read-whole size); 1 KiB sent, then nothing for a while.
      s.write(`POST /early HTTP/1.1\r\nhost: orders\r\ncontent-length: ${100 * 1024}\r\n\r\n${'a'.repeat(1024)}`);
      setTimeout(() => s.destroy(), 1500);
    });
    assert.match(answer, /^HTTP\/1\.1 401 /);
    await post('/after-early', Buffer.from('y'));
    await copyOf('/after-early');
    assert.deepEqual(shadow.filter((a) => a.url === '/early'), [], 'a copy of a body that never ended was sent');
  });

  test("a POST's shadow answer is compared with the primary's", async () => {
    const count = async (): Promise<{ same: number; diff: number; error: number }> => {
      const c = JSON.parse((await httpRequest(`http://${HOST}:${P.admin}/mesh/shadow`)).body).counts.find((x: { route: string }) => x.route === 'mirrored');
      return c ?? { same: 0, diff: 0, error: 0 };
    };
    await waitFor('shadow diff loaded', async () => (await httpRequest(`http://${HOST}:${P.admin}/metrics`)).body.includes('berth_proxy_shadow_compared_total'), 5000);
    const before = await count();
    // Both sides answer the body's digest: the same body gives the same answer; /diff answers differ by name.
    await post('/same', randomBytes(80 * 1024), { chunked: true, pieces: 3 });
    await post('/diff', Buffer.from('{"a":1}'));
    const after = await waitFor('two comparisons', async () => {
      const c = await count();
      return c.same + c.diff + c.error - (before.same + before.diff + before.error) >= 2 ? c : undefined;
    });
    assert.deepEqual({ same: after.same - before.same, diff: after.diff - before.diff, error: after.error - before.error }, { same: 1, diff: 1, error: 0 });
  });
});
