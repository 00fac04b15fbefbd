// Span emission (spans.ts) and the control plane's trace store: the sampled flag (kept from an
// incoming traceparent, decided with `sample` for a new trace), batching off the request path (one
// send per flush, a bounded buffer), the OTLP/HTTP JSON body as a real HTTP receiver gets it at
// /v1/traces, and the store's queries, limit and reopening.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MAX_ATTRIBUTE_LENGTH, MAX_BUFFERED_BYTES, otlpJson, propagateSampled, SpanSink, spanBytes } from '../../../src/sidecar/proxy/spans.js';
import { TraceStore, spanProblem } from '../../../src/control/trace-store.js';
import Database from 'better-sqlite3';
import type { TraceBatch, TraceSpan } from '../../../src/lib/mesh-protocol.js';

const dir = mkdtempSync(join(tmpdir(), 'berth-spans-unit-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const T = '0af7651916cd43dd8448eb211c80319c';
/** A span's memory apart from its path, at the least (its object and ids). */
const SPAN_FLOOR = 200;

function span(over: Partial<TraceSpan> = {}): TraceSpan {
  return { traceId: T, spanId: 'b7ad6b7169203331', kind: 'client', service: 'orders', source: 'web', variant: 'default', route: 'default', method: 'GET', path: '/orders', status: 200, start: 1_765_000_000_000.25, durationMs: 1.5, proxy: 'web-1', ...over };
}

test('an incoming traceparent keeps its trace id and sampled flag; the parent becomes the span\'s parent', () => {
  const h: Record<string, string> = { traceparent: `00-${T}-b7ad6b7169203331-01` };
  const c = propagateSampled(h, 0);
  assert.equal(c.traceId, T);
  assert.equal(c.parentId, 'b7ad6b7169203331');
  assert.equal(c.sampled, true, 'flag 01 is sampled even with sample 0');
  assert.match(h.traceparent, new RegExp(`^00-${T}-${c.spanId}-01$`));
  const h2: Record<string, string> = { traceparent: `00-${T}-b7ad6b7169203331-00` };
  assert.equal(propagateSampled(h2, 1).sampled, false, 'flag 00 is not sampled even with sample 1');
  assert.match(h2.traceparent, /-00$/);
});

test('a new trace is sampled with probability `sample`, and the flag says so downstream', () => {
  let sampled = 0;
  for (let i = 0; i < 10_000; i++) {
    const h: Record<string, string> = {};
    const c = propagateSampled(h, 0.1);
    assert.equal(c.parentId, undefined);
    assert.equal(h.traceparent.endsWith('-01'), c.sampled);
    if (c.sampled) sampled++;
  }
  assert.ok(sampled > 800 && sampled < 1200, `${sampled} of 10000 sampled at 0.1`);
  assert.equal(propagateSampled({}, 0).sampled, false);
  assert.equal(propagateSampled({}, 1).sampled, true);
});

/** A real HTTP receiver recording what is POSTed to it. */
async function receiver(status = 200): Promise<{ url: string; got: { path: string; type: string; body: unknown }[]; close(): Promise<void> }> {
  const got: { path: string; type: string; body: unknown }[] = [];
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      got.push({ path: req.url ?? '', type: String(req.headers['content-type']), body: JSON.parse(Buffer.concat(chunks).toString()) });
      res.writeHead(status).end('{}');
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { url: `http://127.0.0.1:${(server.address() as { port: number }).port}`, got, close: () => new Promise((r) => server.close(() => r())) };
}

test('spans are batched: nothing is sent per request, one batch per flush to the control plane and to the OTLP receiver', async () => {
  const otlp = await receiver();
  const batches: TraceBatch[] = [];
  const sink = new SpanSink({ sample: 1, otlp: otlp.url }, { proxy: 'web-1', service: 'web', post: async (b) => void batches.push(b), log: () => {}, flushMs: 60_000 });
  try {
    sink.add(span());
    sink.add(span({ spanId: '00f067aa0ba902b7', parentId: 'b7ad6b7169203331', kind: 'server', status: 503, source: undefined }));
    assert.equal(batches.length, 0, 'add() sends nothing');
    assert.equal(otlp.got.length, 0);
    await sink.flush();
    assert.equal(batches.length, 1);
    assert.equal(batches[0].proxy, 'web-1');
    assert.equal(batches[0].spans.length, 2);
    assert.equal(otlp.got.length, 1);
    const { path, type, body } = otlp.got[0];
    assert.equal(path, '/v1/traces');
    assert.equal(type, 'application/json');
    const rs = (body as { resourceSpans: { resource: { attributes: { key: string; value: { stringValue?: string } }[] }; scopeSpans: { scope: { name: string }; spans: Record<string, unknown>[] }[] }[] }).resourceSpans;
    assert.equal(rs.length, 1);
    assert.deepEqual(rs[0].resource.attributes.find((a) => a.key === 'service.name')?.value, { stringValue: 'web' });
    const [client, server] = rs[0].scopeSpans[0].spans;
    assert.equal(client.traceId, T);
    assert.equal(client.spanId, 'b7ad6b7169203331');
    assert.equal(client.parentSpanId, undefined, 'a root span has no parentSpanId');
    assert.equal(client.kind, 3);
    assert.equal(client.startTimeUnixNano, '1765000000000250000');
    assert.equal(client.endTimeUnixNano, '1765000000001750000');
    assert.deepEqual(client.status, {});
    assert.equal(server.parentSpanId, 'b7ad6b7169203331');
    assert.equal(server.kind, 2);
    assert.deepEqual(server.status, { code: 2 });
    assert.deepEqual((server.attributes as { key: string; value: unknown }[]).find((a) => a.key === 'http.response.status_code')?.value, { intValue: '503' });
    await sink.flush();
    assert.equal(batches.length, 1, 'an empty buffer sends nothing');
  } finally {
    await sink.close();
    await otlp.close();
  }
});

test('an OTLP endpoint given with /v1/traces is used as is; a failing one is logged, the control plane still gets the batch', async () => {
  const bad = await receiver(500);
  const logs: string[] = [];
  const batches: TraceBatch[] = [];
  const sink = new SpanSink({ sample: 1, otlp: `${bad.url}/v1/traces` }, { proxy: 'p', service: 'web', post: async (b) => void batches.push(b), log: (m) => logs.push(m), flushMs: 60_000 });
  sink.add(span());
  await sink.close();
  await bad.close();
  assert.equal(bad.got[0].path, '/v1/traces');
  assert.equal(batches.length, 1);
  assert.equal(sink.sent, 1);
  assert.match(logs.join('\n'), /answered 500/);
});

test('the buffer is bounded in bytes: beyond MAX_BUFFERED_BYTES spans are dropped and counted; a failed send drops its batch', async () => {
  const sink = new SpanSink({ sample: 1 }, { proxy: 'p', service: 'web', post: () => Promise.reject(new Error('down')), log: () => {}, flushMs: 60_000 });
  const fit = Math.floor(MAX_BUFFERED_BYTES / spanBytes(span()));
  for (let i = 0; i < fit + 5; i++) sink.add(span());
  assert.equal(sink.pending, fit);
  assert.equal(sink.dropped, 5);
  await sink.close();
  assert.equal(sink.dropped, fit + 5);
  assert.equal(sink.pending, 0);
});

test('spans with long client-chosen paths (forced sampling, a receiver that never answers): paths truncated, buffered and in-flight memory bounded in bytes, drops counted', async () => {
  const batches: TraceBatch[] = [];
  const sink = new SpanSink({ sample: 1 }, { proxy: 'p', service: 'web', post: (b) => (batches.push(b), new Promise(() => {})), log: () => {}, flushMs: 60_000 });
  // As the proxy's: a 15 KiB path sliced out of a request head's text.
  const head = `GET /${'p'.repeat(15_000)}?q=1 HTTP/1.1\r\nhost: x\r\n\r\n`;
  const path = head.slice(4, head.indexOf(' HTTP/1.1'));
  const n = 20_000;
  for (let i = 0; i < n / 2; i++) sink.add(span({ path }));
  void sink.flush(); // never answered: the batch stays in flight
  for (let i = 0; i < n / 2; i++) sink.add(span({ path }));
  const inFlight = batches[0].spans;
  const kept = inFlight.length + sink.pending;
  assert.ok(inFlight.every((s) => s.path.length === MAX_ATTRIBUTE_LENGTH && path.startsWith(s.path)), 'the path is truncated to MAX_ATTRIBUTE_LENGTH');
  const bytes = kept * spanBytes(inFlight[0]);
  assert.ok(bytes <= MAX_BUFFERED_BYTES, `${kept} spans kept (${bytes} bytes), buffered and in flight, within ${MAX_BUFFERED_BYTES}`);
  assert.ok(kept * (SPAN_FLOOR + MAX_ATTRIBUTE_LENGTH) <= 2 * MAX_BUFFERED_BYTES, 'the estimate counts the path');
  assert.equal(sink.dropped, n - kept, 'every span not kept is counted as dropped');
  await sink.close(performance.now() + 50);
  assert.equal(sink.dropped, n);
});

test('close() during a send waits for it, then sends the spans buffered meanwhile (SIGTERM, tracing turned off)', async () => {
  const batches: TraceBatch[] = [];
  let answer: (() => void) | undefined;
  // The receiver is slow with the first batch (answered below), quick with the next.
  const post = (b: TraceBatch): Promise<void> => {
    batches.push(b);
    return batches.length === 1 ? new Promise((r) => (answer = r)) : Promise.resolve();
  };
  const sink = new SpanSink({ sample: 1 }, { proxy: 'p', service: 'web', post, log: () => {}, flushMs: 60_000 });
  sink.add(span({ path: '/first' }));
  void sink.flush();
  for (let i = 0; i < 5; i++) sink.add(span({ path: `/during-${i}` }));
  let closed = false;
  const closing = sink.close().then(() => (closed = true));
  await new Promise((r) => setTimeout(r, 50));
  assert.equal(closed, false, 'close() waits for the send under way');
  answer!();
  await closing;
  assert.deepEqual(batches.map((b) => b.spans.length), [1, 5]);
  assert.equal(sink.sent, 6);
  assert.equal(sink.dropped, 0);
  sink.add(span());
  assert.equal(sink.dropped, 1, 'a span added after close() is counted as dropped, not kept forever');
});

test('close(deadline) with a receiver that never answers: returns at the deadline, the unsent spans counted as dropped and logged', async () => {
  const logs: string[] = [];
  const sink = new SpanSink({ sample: 1 }, { proxy: 'p', service: 'web', post: () => new Promise(() => {}), log: (m) => logs.push(m), flushMs: 60_000 });
  sink.add(span());
  void sink.flush();
  sink.add(span());
  sink.add(span());
  const t0 = performance.now();
  await sink.close(t0 + 200);
  const took = performance.now() - t0;
  assert.ok(took >= 150 && took < 2000, `closed at the deadline, took ${Math.round(took)} ms`);
  assert.equal(sink.dropped, 3, 'the batch still being sent and the two buffered');
  assert.equal(sink.sent, 0);
  assert.match(logs.join('\n'), /3 spans not sent before closing/);
});

test('a slow OTLP collector (answering a byte at a time, never ending) holds back neither the control plane nor itself past the export deadline', async () => {
  // The collector starts its answer and then trickles: a socket idle timeout never fires.
  const trickles: NodeJS.Timeout[] = [];
  let aborted = 0;
  let received = 0;
  const slow = http.createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      received++;
      res.writeHead(200, { 'content-type': 'application/json' });
      const t = setInterval(() => res.write(' '), 100);
      trickles.push(t);
      res.on('close', () => (clearInterval(t), aborted++));
    });
  });
  await new Promise<void>((r) => slow.listen(0, '127.0.0.1', r));
  const batches: TraceBatch[] = [];
  const logs: string[] = [];
  const opts = { proxy: 'p', service: 'web', post: async (b: TraceBatch) => void batches.push(b), log: (m: string) => logs.push(m), flushMs: 60_000, exportTimeoutMs: 600 };
  const sink = new SpanSink({ sample: 1, otlp: `http://127.0.0.1:${(slow.address() as { port: number }).port}` }, opts);
  try {
    sink.add(span({ path: '/first' }));
    void sink.flush();
    await new Promise((r) => setTimeout(r, 150));
    assert.equal(received, 1, 'the collector got the first batch and is trickling its answer');
    sink.add(span({ path: '/second' }));
    const t0 = performance.now();
    void sink.flush();
    // The control plane takes the second batch now, with the first OTLP export still under way.
    const deadline = Date.now() + 300;
    while (batches.length < 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    assert.deepEqual(batches.map((b) => b.spans.map((s) => s.path)), [['/first'], ['/second']], `the control plane got its batches while the collector trickled (${Math.round(performance.now() - t0)} ms)`);
    // At the deadline the OTLP request is aborted, its batch counted as dropped; the next goes out.
    const until = Date.now() + 2000;
    while (aborted < 1 && Date.now() < until) await new Promise((r) => setTimeout(r, 20));
    assert.equal(aborted, 1, 'the trickling export was aborted at its deadline');
    assert.equal((sink as unknown as { otlpDropped: number }).otlpDropped, 1, 'the first batch counted as dropped for the collector');
    assert.equal(sink.sent, 2);
    assert.equal(sink.dropped, 0, 'nothing dropped for the control plane');
    assert.match(logs.join('\n'), /1 spans to the OTLP collector \(dropped\): no answer within 600 ms/);
    void sink.flush();
    await new Promise((r) => setTimeout(r, 100));
    assert.equal(received, 2, 'the next flush exports the second batch, the first given up');
  } finally {
    for (const t of trickles) clearInterval(t);
    slow.closeAllConnections();
    slow.close();
    await sink.close(performance.now() + 1000);
  }
});

test('OTLP status: a CLIENT span errs on 4xx and 5xx, a SERVER span only on 5xx (HTTP semantic conventions)', () => {
  const status = (kind: 'client' | 'server', code: number): unknown => (otlpJson('web', [span({ kind, status: code })]) as { resourceSpans: { scopeSpans: { spans: { status: unknown }[] }[] }[] }).resourceSpans[0].scopeSpans[0].spans[0].status;
  assert.deepEqual(status('client', 200), {});
  assert.deepEqual(status('client', 302), {});
  assert.deepEqual(status('client', 404), { code: 2 }, 'a CLIENT span answered 404');
  assert.deepEqual(status('client', 503), { code: 2 });
  assert.deepEqual(status('server', 404), {}, 'a SERVER span answered 404 is not an error of the server');
  assert.deepEqual(status('server', 499), {});
  assert.deepEqual(status('server', 500), { code: 2 });
});

test('url.path is the path alone; the query goes to url.query with credential values REDACTED, for the OTLP collector and the control plane alike', async () => {
  const otlp = await receiver();
  const batches: TraceBatch[] = [];
  const sink = new SpanSink({ sample: 1, otlp: otlp.url }, { proxy: 'p', service: 'web', post: async (b) => void batches.push(b), log: () => {}, flushMs: 60_000 });
  try {
    sink.add(span({ path: '/login?token=SECRET-TOKEN&user=bob&Signature=s1&sig=s2&X-Goog-Signature=s3&AWSAccessKeyId=AKIA1&access_token=t&client_secret=c&Password=p&api_key=k&q=shoes&flag&%74oken=enc' }));
    sink.add(span({ path: '/plain' }));
    await sink.flush();
    const spans = (otlp.got[0].body as { resourceSpans: { scopeSpans: { spans: { attributes: { key: string; value: { stringValue?: string } }[] }[] }[] }[] }).resourceSpans[0].scopeSpans[0].spans;
    const attr = (i: number, k: string): string | undefined => spans[i].attributes.find((a) => a.key === k)?.value.stringValue;
    const redacted = 'token=REDACTED&user=bob&Signature=REDACTED&sig=REDACTED&X-Goog-Signature=REDACTED&AWSAccessKeyId=REDACTED&access_token=REDACTED&client_secret=REDACTED&Password=REDACTED&api_key=REDACTED&q=shoes&flag&%74oken=REDACTED';
    assert.equal(attr(0, 'url.path'), '/login');
    assert.equal(attr(0, 'url.query'), redacted);
    assert.equal(attr(1, 'url.path'), '/plain');
    assert.equal(spans[1].attributes.find((a) => a.key === 'url.query'), undefined, 'no query, no url.query');
    assert.equal(batches[0].spans[0].path, `/login?${redacted}`, 'the control plane gets the query redacted too');
    assert.doesNotMatch(JSON.stringify([otlp.got, batches]), /SECRET|AKIA1|=s1|=enc/);
  } finally {
    await sink.close();
    await otlp.close();
  }
});

test('otlpJson names client spans by caller → callee', () => {
  const body = otlpJson('web', [span()]) as { resourceSpans: { scopeSpans: { spans: { name: string }[] }[] }[] };
  assert.equal(body.resourceSpans[0].scopeSpans[0].spans[0].name, 'web → orders default');
});

test('trace store: summaries, filters by service/status/duration, one trace\'s spans, the limit, reopening', () => {
  const file = join(dir, 'traces.db');
  const store = new TraceStore(file, 10);
  const id = (n: number): string => n.toString(16).padStart(32, '0');
  // Trace 1: ingress → web (client, root), web (server), web → orders 500.
  store.add([
    span({ traceId: id(1), spanId: '0000000000000001', service: 'web', source: 'ingress', start: 1000, durationMs: 30, proxy: 'berth-gateway' }),
    span({ traceId: id(1), spanId: '0000000000000002', parentId: '0000000000000001', kind: 'server', service: 'web', source: 'ingress', start: 1001, durationMs: 28, proxy: 'web-1' }),
    span({ traceId: id(1), spanId: '0000000000000003', parentId: '0000000000000002', service: 'orders', start: 1005, durationMs: 10, status: 500 }),
  ]);
  store.add([span({ traceId: id(2), spanId: '0000000000000004', service: 'web', start: 2000, durationMs: 2 })]);
  assert.equal(store.add([span({ traceId: id(2), spanId: '0000000000000004', service: 'web', start: 2000, durationMs: 2 })]), 0, 'a span sent twice is stored once');
  const all = store.list();
  assert.deepEqual(all.map((t) => t.traceId), [id(2), id(1)], 'newest first');
  assert.deepEqual(all[1], { traceId: id(1), start: 1000, durationMs: 30, root: 'web', services: ['web', 'orders'], status: 500, spans: 3 });
  assert.deepEqual(store.list({ service: 'orders' }).map((t) => t.traceId), [id(1)]);
  assert.deepEqual(store.list({ service: 'order' }), [], 'service names match whole');
  assert.deepEqual(store.list({ status: 'error' }).map((t) => t.traceId), [id(1)]);
  assert.deepEqual(store.list({ status: 'ok' }).map((t) => t.traceId), [id(2)]);
  assert.deepEqual(store.list({ status: '500' }).map((t) => t.traceId), [id(1)]);
  assert.deepEqual(store.list({ minMs: 10 }).map((t) => t.traceId), [id(1)]);
  const one = store.get(id(1))!;
  assert.deepEqual(one.spans.map((s) => s.spanId), ['0000000000000001', '0000000000000002', '0000000000000003']);
  assert.equal(one.spans[2].parentId, '0000000000000002');
  assert.equal(store.get(id(9)), undefined);
  for (let n = 10; n < 25; n++) store.add([span({ traceId: id(n), spanId: '0000000000000005', start: 3000 + n })]);
  assert.equal(store.count(), 10, 'the oldest traces beyond the limit are dropped');
  assert.equal(store.get(id(1)), undefined, 'with their spans');
  store.close();
  const again = new TraceStore(file, 10);
  assert.equal(again.count(), 10, 'kept across reopening (a control-plane restart)');
  assert.equal(again.list({ limit: 1 })[0].traceId, id(24));
  again.close();
});

test('trace store: a mirror copy\'s span keeps its shadow mark; a store from before the mark opens and takes it', () => {
  const file = join(dir, 'traces-before-shadow.db');
  // The spans table as it was before copies had spans of their own (no shadow column).
  const old = new Database(file);
  old.exec(`CREATE TABLE spans (
      trace_id TEXT NOT NULL, span_id TEXT NOT NULL, parent_id TEXT, kind TEXT NOT NULL, service TEXT NOT NULL, source TEXT,
      variant TEXT NOT NULL, route TEXT NOT NULL, method TEXT NOT NULL, path TEXT NOT NULL, status INTEGER NOT NULL,
      start REAL NOT NULL, duration REAL NOT NULL, proxy TEXT NOT NULL, PRIMARY KEY (trace_id, span_id, kind));`);
  old.close();
  const store = new TraceStore(file, 10);
  const trace = 'e'.repeat(32);
  store.add([
    span({ traceId: trace, spanId: '0000000000000001', service: 'web', source: 'ingress', start: 1000, durationMs: 30 }),
    span({ traceId: trace, spanId: '0000000000000002', parentId: '0000000000000001', service: 'web', source: 'ingress', variant: 'v2', start: 1001, durationMs: 20, shadow: true }),
  ]);
  const got = store.get(trace)!;
  assert.deepEqual(got.spans.map((s) => [s.spanId, s.shadow]), [['0000000000000001', undefined], ['0000000000000002', true]]);
  store.close();
  assert.match(spanProblem({ ...span(), shadow: 'yes' })!, /shadow/);
});

test('spanProblem refuses what is not a span', () => {
  assert.equal(spanProblem(span()), undefined);
  assert.match(spanProblem({ ...span(), traceId: 'x' })!, /traceId/);
  assert.match(spanProblem({ ...span(), kind: 'internal' })!, /kind/);
  assert.match(spanProblem({ ...span(), status: '200' })!, /status/);
  assert.match(spanProblem(null)!, /object/);
});
