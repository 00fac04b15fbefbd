// bindings.cron (input) and bindings.http (output, against a real HTTP server on loopback)
// through the binding conformance suites, then each one's own behaviour.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { BindingError, ComponentConfigError, createInputBinding, createOutputBinding, parseSchedule, type ComponentSpec } from '../../src/components/index.js';
import { until } from '../helpers/servers.js';
import { runInputBindingConformance, runOutputBindingConformance } from './bindings.js';

const spec = (type: string, metadata: Record<string, string>): ComponentSpec => ({ name: 'b', type, version: 'v1', metadata, scopes: [] });

runInputBindingConformance('bindings.cron @every', { open: async () => createInputBinding(spec('bindings.cron', { schedule: '@every 150ms' })), periodMs: 150 });
runInputBindingConformance('bindings.cron with seconds', { open: async () => createInputBinding(spec('bindings.cron', { schedule: '* * * * * *' })), periodMs: 1000 });

interface Seen {
  method: string;
  url: string;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
}
const seen: Seen[] = [];
const server = http.createServer((req, res) => {
  const chunks: Buffer[] = [];
  req.on('data', (c: Buffer) => chunks.push(c));
  req.on('end', () => {
    seen.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, body: Buffer.concat(chunks) });
    if (req.url?.startsWith('/api/missing')) return void res.writeHead(404, { 'content-type': 'text/plain' }).end('not here');
    if (req.url?.startsWith('/api/big')) return void res.writeHead(200).end(Buffer.alloc(4096, 1));
    if (req.url?.startsWith('/api/slow')) return void setTimeout(() => res.writeHead(200).end('late'), 1000);
    res.writeHead(200, { 'content-type': 'application/json', 'x-answer': '42' });
    res.end(req.method === 'HEAD' ? undefined : JSON.stringify({ method: req.method, url: req.url }));
  });
});
await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}/api`;
after(() => new Promise<void>((r) => server.close(() => r())));

runOutputBindingConformance('bindings.http', {
  open: async () => createOutputBinding(spec('bindings.http', { url: base })),
  received: () => seen.filter((s) => s.method === 'POST').map((s) => s.body),
});

test('bindings.http: path, headers from metadata, status and headers back as metadata', async () => {
  const b = createOutputBinding(spec('bindings.http', { url: base }));
  const res = await b.invoke({ operation: 'get', metadata: { path: '/orders/7?x=1', 'X-Tenant': 'acme' } });
  const last = seen.at(-1)!;
  assert.equal(last.method, 'GET');
  assert.equal(last.url, '/api/orders/7?x=1');
  assert.equal(last.headers['x-tenant'], 'acme');
  assert.deepEqual(JSON.parse(res.data.toString()), { method: 'GET', url: '/api/orders/7?x=1' });
  assert.equal(res.metadata.statusCode, '200');
  assert.equal(res.metadata['x-answer'], '42');
  await b.invoke({ operation: 'put', data: Buffer.from('v'), metadata: { path: 'items/1' } });
  assert.equal(seen.at(-1)!.method, 'PUT');
  assert.equal(seen.at(-1)!.url, '/api/items/1');
});

test('bindings.http: non-2xx is an error unless errorIfNot2XX is false; securityToken is sent', async () => {
  const strict = createOutputBinding(spec('bindings.http', { url: base }));
  await assert.rejects(strict.invoke({ operation: 'get', metadata: { path: 'missing' } }), (e: BindingError) => /404/.test(e.message) && e.code === 'ERR_INVOKE_OUTPUT_BINDING');
  const lenient = createOutputBinding(spec('bindings.http', { url: base, errorIfNot2XX: 'false', securityToken: 's3', securityTokenHeader: 'X-Token' }));
  const res = await lenient.invoke({ operation: 'get', metadata: { path: 'missing' } });
  assert.equal(res.metadata.statusCode, '404');
  assert.equal(res.data.toString(), 'not here');
  assert.equal(seen.at(-1)!.headers['x-token'], 's3');
});

test('bindings.http: oversize answers, timeouts and unreachable hosts fail with a clear error', async () => {
  await assert.rejects(
    createOutputBinding(spec('bindings.http', { url: base, maxResponseBodySize: '1024' })).invoke({ operation: 'get', metadata: { path: 'big' } }),
    /maxResponseBodySize/,
  );
  await assert.rejects(createOutputBinding(spec('bindings.http', { url: base, responseTimeout: '200ms' })).invoke({ operation: 'get', metadata: { path: 'slow' } }), BindingError);
  await assert.rejects(createOutputBinding(spec('bindings.http', { url: 'http://127.0.0.1:1/' })).invoke({ operation: 'get' }), /failed/);
  assert.throws(() => createOutputBinding(spec('bindings.http', { url: 'not a url' })));
});

test('bindings.cron: schedules as Dapr accepts them; bad ones are configuration errors', async () => {
  assert.deepEqual(parseSchedule('c', '@every 15s'), { every: 15_000 });
  assert.deepEqual(parseSchedule('c', '@every 1h30m'), { every: 5_400_000 });
  assert.deepEqual(parseSchedule('c', '@hourly'), { cron: '@hourly' });
  assert.deepEqual(parseSchedule('c', '0 30 * * * *'), { cron: '0 30 * * * *' });
  assert.deepEqual(parseSchedule('c', '*/5 * * * *'), { cron: '*/5 * * * *' });
  for (const bad of ['@every', '@every 15', '@every soon', 'every minute', '61 * * * *']) {
    assert.throws(() => parseSchedule('c', bad), ComponentConfigError, bad);
  }
  assert.throws(() => createInputBinding(spec('bindings.cron', {})), /schedule" is required/);
  const b = createInputBinding(spec('bindings.cron', { schedule: '@every 100ms' }));
  const times: string[] = [];
  await b.read(async (e) => void times.push(e.metadata.readTimeUTC));
  await until('two ticks', () => times.length >= 2, 2000);
  await b.close();
  assert.ok(times.every((t) => !Number.isNaN(Date.parse(t))));
});
