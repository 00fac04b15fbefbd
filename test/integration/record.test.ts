// Traffic recording under `berth up`: `berth record start|stop|ls|get` against two real services
// (front → back) behind the gateway's ingress. The inbound sidecar records the requests with the
// call front made to back (matched by traceparent), secrets redacted; the recording replays
// against a changed front and the diff finds the changed field; with --mock-dependencies, back's
// answers come from the recording. Recording off: no files, no recording metrics.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { join } from 'node:path';
import { validateHar, type Har } from '../../src/replay/index.js';
import { berth, portBlock, tempApp, waitFor } from './harness/berth.js';

const FRONT = `
import http from 'node:http';
const back = process.env.BERTH_BACK_URL;
const tax = Number(process.env.TAX ?? 1);
http.createServer(async (req, res) => {
  if (req.url === '/ready') return res.end('ok');
  const m = /^\\/price\\/(\\w+)$/.exec(req.url);
  if (!m) { res.writeHead(404); return res.end('no'); }
  // Propagates the trace (what lets the sidecar keep this call with the request).
  let item;
  try {
    const r = await fetch(back + '/item/' + m[1], { headers: { traceparent: req.headers.traceparent ?? '' } });
    item = await r.json();
  } catch (err) {
    res.writeHead(502);
    return res.end(String(err));
  }
  const body = JSON.stringify({ sku: item.sku, price: item.price * tax, served: Date.now(), stock: item.stock });
  res.writeHead(200, { 'content-type': 'application/json', 'set-cookie': 'session=s3cr3t' });
  res.end(body);
}).listen(Number(process.env.PORT), process.env.HOST);
`;

const BACK = `
import http from 'node:http';
let calls = 0;
http.createServer((req, res) => {
  if (req.url === '/ready') return res.end('ok');
  if (req.url === '/calls') return res.end(String(calls));
  calls++;
  const sku = req.url.split('/').pop();
  res.writeHead(200, { 'content-type': 'application/json' });
  res.end(JSON.stringify({ sku, price: sku.length * 10, stock: 100 - calls }));
}).listen(Number(process.env.PORT), process.env.HOST);
`;

function spec(p: { ingress: number; front: number; back: number }, tax?: string): string {
  return `app: rec-${p.front}
ingress: { port: ${p.ingress}, routes: [{ to: front }] }
services:
  front:
    run: node front.mjs
    port: ${p.front}
    uses: [back]
    env: { TAX: "${tax ?? '1'}" }
    replay: { ignore: [$.served] }
    probes: { readiness: { http: { path: /ready }, periodSeconds: 0.5 } }
  back:
    run: node back.mjs
    port: ${p.back}
    record: { sample: 1, match: [{ path: { prefix: /item/ } }], redactHeaders: [x-api-key], maxBodyBytes: 20 }
    probes: { readiness: { http: { path: /ready }, periodSeconds: 0.5 } }
`;
}

function get(port: number, path: string, headers: Record<string, string> = {}): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, path, headers, agent: false, timeout: 5000 }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

describe('berth record: recording through the sidecar and the gateway, replay and diff', () => {
  const base = portBlock(3);
  const P = { ingress: base, front: base + 1, back: base + 2 };
  const cwd = tempApp({ 'berth.yaml': spec(P), 'front.mjs': FRONT, 'back.mjs': BACK });
  const out = join(cwd, 'front.har');

  before(async () => {
    const up = await berth(cwd, ['up', '-d', '--wait', '--timeout', '90'], { timeoutMs: 120_000 });
    assert.equal(up.code, 0, `berth up failed: ${up.stdout}\n${up.stderr}`);
    await waitFor('front answers through the ingress', async () => (await get(P.ingress, '/price/mug').catch(() => ({ status: 0 }))).status === 200, 30_000);
  });

  after(async () => {
    await berth(cwd, ['down']);
  });

  test('recording off (the default): nothing is written for front; the spec\'s record: of back is listed', async () => {
    for (let i = 0; i < 5; i++) assert.equal((await get(P.front, '/price/mug')).status, 200);
    // The sidecar writes its entries in batches off the request path: back's recording appears once
    // the first batch is out (on a busy machine, a while after the answers).
    const dirs = (): string[] => {
      try {
        return readdirSync(join(cwd, '.berth', 'recordings'));
      } catch {
        return []; // not created yet
      }
    };
    await waitFor("back's recording on disk", () => dirs().includes('spec-back'), 20_000);
    assert.deepEqual(dirs(), ['spec-back']);
    const ls = await berth(cwd, ['record', 'ls', '--json']);
    assert.equal(ls.code, 0, ls.stderr);
    const list = JSON.parse(ls.stdout);
    assert.deepEqual(list.map((r: { id: string; service: string; source: string; state: string }) => [r.id, r.service, r.source, r.state]), [['spec-back', 'back', 'spec', 'recording']]);
  });

  test('the spec\'s record: (sample, match, redactHeaders, maxBodyBytes) in back\'s sidecar', async () => {
    assert.equal((await get(P.back, '/item/poster', { 'x-api-key': 'k-123' })).status, 200);
    assert.equal((await get(P.back, '/calls')).status, 200); // not matched
    const har = await waitFor('back\'s recording holds the request', async () => {
      const r = await berth(cwd, ['record', 'get', 'spec-back']);
      const doc = r.code === 0 ? (JSON.parse(r.stdout) as Har) : undefined;
      return doc?.log.entries.some((e) => e.request.headers.some((h) => h.name === 'x-api-key')) ? doc : undefined;
    });
    assert.deepEqual(validateHar(har), []);
    assert.ok(har.log.entries.every((e) => new URL(e.request.url).pathname.startsWith('/item/')));
    const e = har.log.entries.find((x) => x.request.headers.some((h) => h.name === 'x-api-key'))!;
    assert.equal(e.request.headers.find((h) => h.name === 'x-api-key')!.value, 'REDACTED');
    assert.equal(e.response._truncated, true);
    assert.equal(e.response.content.text!.length, 20);
  });

  test('start, traffic, stop: every request recorded with its downstream call, secrets redacted, valid HAR 1.2', async () => {
    const start = await berth(cwd, ['record', 'start', 'front', '--out', out, '--json']);
    assert.equal(start.code, 0, `${start.stdout}\n${start.stderr}`);
    const info = JSON.parse(start.stdout);
    assert.equal(info.service, 'front');
    assert.equal(info.state, 'recording');
    // The sidecars pick the recording up from their next snapshot.
    await new Promise((r) => setTimeout(r, 1000));
    const skus = ['mug', 'tshirt', 'cap', 'poster', 'sticker'];
    for (const sku of skus) {
      const r = await get(P.front, `/price/${sku}`, { authorization: 'Bearer top-secret', cookie: 'id=very-secret', 'x-tenant': 'a' });
      assert.equal(r.status, 200);
    }
    const ls = JSON.parse((await berth(cwd, ['record', 'ls', '--json'])).stdout);
    assert.deepEqual(ls.filter((r: { service: string }) => r.service === 'front').map((r: { state: string; source: string }) => [r.state, r.source]), [['recording', 'cli']]);
    const stop = await berth(cwd, ['record', 'stop', 'front', '--json']);
    assert.equal(stop.code, 0, `${stop.stdout}\n${stop.stderr}`);
    const stopped = JSON.parse(stop.stdout);
    assert.equal(stopped.state, 'stopped');
    assert.ok(stopped.files.length >= 1, JSON.stringify(stopped));

    const doc = JSON.parse(readFileSync(out, 'utf8')) as Har;
    assert.deepEqual(validateHar(doc), []);
    const entries = doc.log.entries.filter((e) => new URL(e.request.url).pathname.startsWith('/price/'));
    assert.deepEqual(entries.map((e) => new URL(e.request.url).pathname).sort(), skus.map((s) => `/price/${s}`).sort());
    for (const e of entries) {
      const h = (name: string): string | undefined => e.request.headers.find((x) => x.name.toLowerCase() === name)?.value;
      assert.equal(h('authorization'), 'REDACTED');
      assert.equal(h('cookie'), 'REDACTED');
      assert.equal(h('x-tenant'), 'a');
      assert.equal(e.response.headers.find((x) => x.name.toLowerCase() === 'set-cookie')?.value, 'REDACTED');
      assert.equal(e.response.status, 200);
      assert.match(e._traceId ?? '', /^[0-9a-f]{32}$/);
      assert.match(e._instance ?? '', /^front/);
      assert.match(e._revision ?? '', /^\w+/, 'the revision that served it');
      const body = JSON.parse(e.response.content.text ?? '{}');
      assert.equal(body.sku, new URL(e.request.url).pathname.split('/').pop());
      // The call to back, made through the outbound sidecar with the same trace.
      assert.equal(e._downstream?.length, 1, JSON.stringify(e._downstream));
      assert.equal(e._downstream![0].service, 'back');
      assert.equal(new URL(e._downstream![0].request.url).pathname, `/item/${body.sku}`);
      assert.equal(JSON.parse(e._downstream![0].response.content.text ?? '{}').sku, body.sku);
    }
    const get1 = await berth(cwd, ['record', 'get', stopped.id]);
    assert.equal(get1.code, 0, get1.stderr);
    assert.equal((JSON.parse(get1.stdout) as Har).log.entries.length, doc.log.entries.length);
  });

  test('the gateway records what comes in through the ingress', async () => {
    const start = await berth(cwd, ['record', 'start', 'ingress', '--match', 'GET /price/', '--json']);
    assert.equal(start.code, 0, `${start.stdout}\n${start.stderr}`);
    await new Promise((r) => setTimeout(r, 1000));
    for (let i = 0; i < 3; i++) assert.equal((await get(P.ingress, '/price/mug')).status, 200);
    assert.equal((await get(P.ingress, '/nosuch')).status, 404); // not matched: not recorded
    const stop = JSON.parse((await berth(cwd, ['record', 'stop', 'ingress', '--json'])).stdout);
    const har = JSON.parse((await berth(cwd, ['record', 'get', stop.id])).stdout) as Har;
    assert.deepEqual(validateHar(har), []);
    assert.equal(har.log.entries.length, 3);
    assert.ok(har.log.entries.every((e) => e._instance === 'berth-gateway'));
  });

  test('replay against a changed front: the diff reports the changed price, not the timestamp', async () => {
    // Same revision: no difference (served is a timestamp, ignored; stock moves, so it is ignored too).
    const same = await berth(cwd, ['replay', out, '--to', 'front', '--ignore', '$.served,$.stock', '--json'], { timeoutMs: 60_000 });
    assert.equal(same.code, 0, `${same.stdout}\n${same.stderr}`);
    writeFileSync(join(cwd, 'berth.yaml'), spec(P, '2'));
    const up = await berth(cwd, ['up', '-d', '--wait', '--timeout', '90'], { timeoutMs: 120_000 });
    assert.equal(up.code, 0, `${up.stdout}\n${up.stderr}`);
    // The timestamp is ignored by the spec's replay.ignore of front.
    const r = await berth(cwd, ['replay', out, '--to', 'front', '--ignore', '$.stock', '--json'], { timeoutMs: 60_000 });
    assert.equal(r.code, 1, `${r.stdout}\n${r.stderr}`);
    const rep = JSON.parse(r.stdout);
    assert.equal(rep.diff, 5);
    const paths = new Set(rep.report.endpoints.flatMap((e: { fields: { path: string }[] }) => e.fields.map((f) => f.path)));
    assert.deepEqual([...paths], ['$.price']);
  });

  test('--mock-dependencies: front\'s calls to back are answered from the recording (back is not called); misses are reported', async () => {
    const calls = async (): Promise<number> => Number((await get(P.back, '/calls')).body);
    const before = await calls();
    // Stock moved on the live back since the recording; answered from the recording, it is as recorded.
    const r = await berth(cwd, ['replay', out, '--to', 'front', '--mock-dependencies', '--ignore', '$.served', '--json'], { timeoutMs: 60_000 });
    assert.equal(r.code, 1, `${r.stdout}\n${r.stderr}`);
    const rep = JSON.parse(r.stdout);
    assert.deepEqual({ hits: rep.mocks.hits, misses: rep.mocks.misses }, { hits: 5, misses: 0 });
    const paths = new Set(rep.report.endpoints.flatMap((e: { fields: { path: string }[] }) => e.fields.map((f) => f.path)));
    assert.deepEqual([...paths], ['$.price']);
    assert.equal(await calls(), before, 'back was not called');
    // A recording whose downstream call no longer matches: a miss, listed, and the replay fails.
    const doc = JSON.parse(readFileSync(out, 'utf8')) as Har;
    const e = doc.log.entries.find((x) => x.request.url.endsWith('/price/mug'))!;
    e._downstream![0].request.url = e._downstream![0].request.url.replace('/item/mug', '/item/other');
    const changed = join(cwd, 'changed.har');
    writeFileSync(changed, JSON.stringify(doc));
    const m = await berth(cwd, ['replay', changed, '--to', 'front', '--mock-dependencies', '--ignore', '$', '--json'], { timeoutMs: 60_000 });
    assert.equal(m.code, 1, `${m.stdout}\n${m.stderr}`);
    const mr = JSON.parse(m.stdout);
    assert.equal(mr.mocks.misses, 1);
    assert.deepEqual(mr.mocks.missed.map((x: { method: string; path: string; service: string }) => `${x.method} ${x.path} ${x.service}`), ['GET /item/mug back']);
    assert.equal(mr.mocks.hits, 4);
    // Without a sidecar (a URL target) there is nothing to answer the calls.
    const url = await berth(cwd, ['replay', out, '--to', `http://127.0.0.1:${P.front}`, '--mock-dependencies']);
    assert.equal(url.code, 2);
  });

  test('--duration ends a recording by itself; --sample 0.5 records about half', async () => {
    const start = await berth(cwd, ['record', 'start', 'front', '--duration', '6s', '--sample', '0.5', '--json']);
    assert.equal(start.code, 0, start.stderr);
    const id = JSON.parse(start.stdout).id;
    await new Promise((r) => setTimeout(r, 800));
    for (let i = 0; i < 100; i++) await get(P.front, `/price/s${i}`);
    const stopped = await waitFor('the recording stopped by itself', async () => {
      const ls = JSON.parse((await berth(cwd, ['record', 'ls', '--json'])).stdout) as { id: string; state: string }[];
      return ls.find((r) => r.id === id && r.state === 'stopped');
    }, 20_000, 500);
    assert.ok(stopped);
    const n = (JSON.parse((await berth(cwd, ['record', 'get', id])).stdout) as Har).log.entries.length;
    assert.ok(n > 20 && n < 80, `sampled ${n} of 100`);
  });

  test('unknown service and a second start are refused with clear errors', async () => {
    const r = await berth(cwd, ['record', 'start', 'nosuch']);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /no service "nosuch"/);
    const bad = await berth(cwd, ['record', 'start', 'front', '--sample', '2']);
    assert.equal(bad.code, 2);
    const stopNone = await berth(cwd, ['record', 'stop', 'back']);
    assert.equal(stopNone.code, 1);
    assert.match(stopNone.stderr, /not being recorded/);
  });
});
