// Downstream calls and held bodies (review of the recorder): two recorded requests of one trace in
// flight each keep their own calls (a call joins the newest request of its trace still in flight);
// the calls kept per recorded request are capped in number and body bytes, and the body bytes held
// for exchanges in flight are capped across the process — past the caps bodies are cut (marked)
// and calls dropped (counted), never the traffic.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Recorder } from '../../../src/sidecar/proxy/recorder.js';
import { readHar, type HarEntry } from '../../../src/replay/index.js';

const MiB = 1024 * 1024;
const TRACE = '4bf92f3577b34da6a3ce929d0e0e4736';

function recorder(maxBodyBytes = 1024): Recorder {
  const dir = mkdtempSync(join(tmpdir(), 'berth-recorder-'));
  return new Recorder({ id: 'u', sample: 1, redactHeaders: [], maxBodyBytes, maxFileMiB: 100 }, { stateDir: dir, proxyId: 'p-1', onError: (e) => assert.fail(e) });
}

async function entriesOf(r: Recorder): Promise<HarEntry[]> {
  await new Promise((res) => setImmediate(res));
  const st = await r.close();
  const out: HarEntry[] = [];
  for (const f of st.files) out.push(...(await readHar(f)).har.log.entries);
  return out;
}

test('two recorded requests of one trace in flight each keep their own downstream calls', async () => {
  const r = recorder();
  const a = r.begin({ method: 'GET', url: '/a', headers: { host: 'svc' } }, TRACE)!;
  const b = r.begin({ method: 'GET', url: '/b', headers: { host: 'svc' } }, TRACE)!;
  const d1 = r.beginDownstream({ method: 'GET', url: '/down-b', headers: { host: 'x' } }, TRACE, 'x')!;
  d1.head(200, []);
  d1.finish(200);
  b.head(200, []);
  b.finish(200);
  // B is done: a call of the trace now belongs to A, still in flight.
  const d2 = r.beginDownstream({ method: 'GET', url: '/down-a', headers: { host: 'x' } }, TRACE, 'x');
  assert.ok(d2, 'the call of the request still in flight is recorded');
  d2.head(200, []);
  d2.finish(200);
  a.head(200, []);
  a.finish(200);
  const entries = await entriesOf(r);
  const calls = Object.fromEntries(entries.map((e) => [new URL(e.request.url).pathname, (e._downstream ?? []).map((d) => new URL(d.request.url).pathname)]));
  assert.deepEqual(calls, { '/b': ['/down-b'], '/a': ['/down-a'] });
  assert.equal(r.dropped, 0);
});

test('body bytes held for exchanges in flight are capped across the process; past it bodies are cut', async () => {
  const r = recorder(MiB);
  const chunk = Buffer.alloc(64 * 1024, 0x62);
  const base = process.memoryUsage().arrayBuffers;
  const open = [];
  for (let i = 0; i < 64; i++) {
    const x = r.begin({ method: 'POST', url: `/up/${i}`, headers: { host: 'svc', 'content-type': 'application/octet-stream' } }, `${TRACE.slice(0, 30)}${String(i).padStart(2, '0')}`)!;
    for (let k = 0; k < 16; k++) x.requestBody(chunk);
    open.push(x);
  }
  const grew = process.memoryUsage().arrayBuffers - base;
  assert.ok(grew < 24 * MiB, `held ${(grew / MiB).toFixed(0)} MiB for 64 uploads in flight`);
  for (const x of open) {
    x.head(200, []);
    x.finish(200);
  }
  await new Promise((res) => setImmediate(res));
  // Once the entries are built the budget is free again: a new exchange keeps its body whole.
  const y = r.begin({ method: 'POST', url: '/after', headers: { host: 'svc', 'content-type': 'application/octet-stream' } }, TRACE)!;
  y.requestBody(chunk);
  y.head(200, []);
  y.finish(200);
  const entries = await entriesOf(r);
  const after = entries.find((e) => e.request.url.endsWith('/after'))!;
  assert.equal(Buffer.from(after.request.postData!.text!, 'base64').length, chunk.length);
  assert.equal(after.request._truncated, undefined);
});

test('downstream calls kept per recorded request are capped in number and body bytes; the excess is counted', async () => {
  const r = recorder(256 * 1024);
  const parent = r.begin({ method: 'GET', url: '/events', headers: { host: 'svc' } }, TRACE)!;
  const body = Buffer.alloc(256 * 1024, 0x61);
  let begun = 0;
  const base = process.memoryUsage().arrayBuffers;
  for (let i = 0; i < 1500; i++) {
    const d = r.beginDownstream({ method: 'GET', url: `/item/${i}`, headers: { host: 'b' } }, TRACE, 'b');
    if (!d) continue;
    begun++;
    d.head(200, ['content-type', 'application/octet-stream']);
    d.data(body);
    d.finish(200);
  }
  const grew = process.memoryUsage().arrayBuffers - base;
  assert.ok(grew < 32 * MiB, `held ${(grew / MiB).toFixed(0)} MiB for one request's calls`);
  parent.head(200, ['content-type', 'text/event-stream']);
  parent.finish(200);
  const [e] = await entriesOf(r);
  const calls = e._downstream ?? [];
  assert.ok(begun < 1500 && calls.length === begun, `${begun} calls begun, ${calls.length} kept`);
  assert.equal(r.dropped, 1500 - begun);
  const kept = calls.reduce((n, d) => n + Buffer.from(d.response.content.text ?? '', 'base64').length, 0);
  assert.ok(kept <= 8 * MiB, `kept ${kept} bytes of downstream bodies`);
  assert.ok(calls.some((d) => d.response._truncated === true));
});
