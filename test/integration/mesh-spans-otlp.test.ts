// What a real berth-proxy exports to an OTLP/HTTP JSON collector, as OpenTelemetry's HTTP semantic
// conventions have it: the path alone in url.path, the query in url.query with credentials
// REDACTED (the control plane's copy too), and the status by span kind — the app's outbound call
// (CLIENT) answered 404 is an error, an inbound request (SERVER) answered 404 is not.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { portBlock, waitFor } from './harness/berth.js';
import { HOST, request, startProxy, upstream } from './mesh-helpers/proxy.js';
import type { MeshSnapshot, TraceSpan } from '../../src/lib/mesh-protocol.js';
import { standInControl } from './mesh-helpers/stand-in-control.js';

const base = portBlock(7);
const P = { inbound: base, app: base + 1, admin: base + 2, out: base + 3, peer: base + 4, cp: base + 5, otlp: base + 6 };

interface OtlpSpan {
  kind: number;
  status: { code?: number };
  attributes: { key: string; value: { stringValue?: string; intValue?: string } }[];
}

const servers: http.Server[] = [];
after(() => {
  for (const s of servers) {
    s.closeAllConnections();
    s.close();
  }
});

test('OTLP export: url.path without the query, url.query with credentials REDACTED, CLIENT 404 an error and SERVER 404 not', async () => {
  const exported: OtlpSpan[] = [];
  const otlp = http.createServer((req, res) => {
    let body = '';
    req.on('data', (d: Buffer) => (body += d.toString()));
    req.on('end', () => {
      const b = JSON.parse(body) as { resourceSpans: { scopeSpans: { spans: OtlpSpan[] }[] }[] };
      exported.push(...b.resourceSpans.flatMap((r) => r.scopeSpans.flatMap((s) => s.spans)));
      res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    });
  });
  await new Promise<void>((r) => otlp.listen(P.otlp, HOST, r));
  servers.push(otlp);
  servers.push(await upstream(P.app, 'app', (req, res) => (req.resume(), res.writeHead(req.url?.startsWith('/nope') ? 404 : 200).end('app'))));
  servers.push(await upstream(P.peer, 'peer', (req, res) => (req.resume(), res.writeHead(req.url?.startsWith('/missing') ? 404 : 200).end('peer'))));
  const self = { name: 'self', port: 1, endpoints: [{ id: 'self-1', host: HOST, port: P.inbound, variant: 'default' }] };
  const peer = { name: 'peer', port: 2, endpoints: [{ id: 'peer-1', host: HOST, port: P.peer, variant: 'default' }] };
  const snap: MeshSnapshot = { version: 1, app: 'spans', services: [self, peer], config: { accessLog: false, tracing: { sample: 1, otlp: `http://${HOST}:${P.otlp}` } } };
  const cpSpans: TraceSpan[] = [];
  const cp = await standInControl({ host: HOST, port: P.cp, first: snap, onPost: (url, body) => (url === '/api/v1/traces' && cpSpans.push(...(JSON.parse(body) as { spans: TraceSpan[] }).spans), false) });
  const proxy = await startProxy({ id: 'self-1', inbound: P.inbound, app: P.app, admin: P.admin, outbound: { peer: P.out }, snapshot: snap, control: P.cp });
  try {
    await waitFor('tracing on', () => /tracing: sampling/.test(proxy.stderr()), 5000);
    assert.equal((await request(`http://${HOST}:${P.inbound}/login?token=SECRET-TOKEN&user=bob`)).status, 200);
    assert.equal((await request(`http://${HOST}:${P.inbound}/nope`)).status, 404);
    assert.equal((await request(`http://${HOST}:${P.out}/missing/thing`)).status, 404);
    await waitFor('three spans exported', () => exported.length >= 3 && cpSpans.length >= 3, 5000);
    const attr = (s: OtlpSpan, k: string): string | undefined => s.attributes.find((a) => a.key === k)?.value.stringValue;
    const byPath = (p: string): OtlpSpan => exported.find((s) => attr(s, 'url.path') === p)!;
    const login = byPath('/login');
    assert.ok(login, `a span with url.path /login (got ${exported.map((s) => attr(s, 'url.path')).join(', ')})`);
    assert.equal(attr(login, 'url.query'), 'token=REDACTED&user=bob');
    assert.equal(login.kind, 2, 'an inbound request is a SERVER span');
    assert.deepEqual(login.status, {});
    const nope = byPath('/nope');
    assert.equal(nope.kind, 2);
    assert.deepEqual(nope.status, {}, 'a SERVER span answered 404: status unset');
    assert.equal(attr(nope, 'url.query'), undefined);
    const missing = byPath('/missing/thing');
    assert.equal(missing.kind, 3, 'the app\'s outbound call is a CLIENT span');
    assert.deepEqual(missing.status, { code: 2 }, 'a CLIENT span answered 404: Error');
    assert.ok(cpSpans.some((s) => s.path === '/login?token=REDACTED&user=bob'), 'the control plane gets the query redacted as well');
    assert.doesNotMatch(JSON.stringify([exported, cpSpans]), /SECRET-TOKEN/);
  } finally {
    proxy.child.kill('SIGKILL');
    await cp.close();
  }
});
