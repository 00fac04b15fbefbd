// Span memory is bounded when the control plane does not answer and clients force sampling: any
// client may send a `traceparent` with flags 01 (parent-based sampling keeps it, with `sample` 0),
// and with 15 KiB paths the proxy held every buffered span's path (and its request head), the
// batch in flight and its JSON: hundreds of MiB in seconds. A real berth-proxy process.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { readFileSync } from 'node:fs';
import { httpRequest, portBlock, waitFor } from './harness/berth.js';
import { HOST, startProxy, upstream } from './mesh-helpers/proxy.js';
import type { MeshSnapshot } from '../../src/lib/mesh-protocol.js';
import { standInControl } from './mesh-helpers/stand-in-control.js';

const base = portBlock(4);
const P = { inbound: base, app: base + 1, admin: base + 2, cp: base + 3 };

function rss(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) * 1024 : 0;
}

test('forced sampling with 15 KiB paths and a control plane that never answers: the proxy\'s RSS stays bounded, the spans beyond the bound are counted as dropped', async () => {
  const snap: MeshSnapshot = { version: 1, app: 't', services: [{ name: 'self', port: 1, endpoints: [{ id: 'self-1', host: HOST, port: P.inbound, variant: 'default' }] }], config: { accessLog: false, tracing: { sample: 0 } } };
  const hung: http.ServerResponse[] = [];
  const cp = await standInControl({ host: HOST, port: P.cp, first: snap, onPost: (url, _body, res) => url === '/api/v1/traces' && (hung.push(res), true) });
  const app = await upstream(P.app, 'app');
  const proxy = await startProxy({ id: 'self-1', inbound: P.inbound, app: P.app, admin: P.admin, outbound: {}, snapshot: snap, control: P.cp });
  const agent = new http.Agent({ keepAlive: true, maxSockets: 32 });
  try {
    await waitFor('tracing on', () => /tracing: sampling/.test(proxy.stderr()), 5000);
    const rss0 = rss(proxy.child.pid!);
    let peak = rss0;
    let n = 0;
    const path = `/${'p'.repeat(15_000)}`;
    const traceparent = `00-${'ab'.repeat(16)}-${'cd'.repeat(8)}-01`;
    const end = Date.now() + 6000;
    const worker = async (): Promise<void> => {
      while (Date.now() < end) {
        await new Promise<void>((r) => {
          http.get({ host: HOST, port: P.inbound, path: `${path}?${n++}`, agent, headers: { traceparent } }, (res) => (res.resume(), res.on('end', r))).on('error', () => r());
        });
      }
    };
    const sampler = setInterval(() => (peak = Math.max(peak, rss(proxy.child.pid!))), 50);
    await Promise.all(Array.from({ length: 32 }, worker));
    clearInterval(sampler);
    const metrics = (await httpRequest(`http://${HOST}:${P.admin}/metrics`)).body;
    const dropped = Number(/^berth_proxy_spans_dropped_total\{[^}]*\} (\d+)$/m.exec(metrics)?.[1] ?? 'NaN');
    const grew = (peak - rss0) / 2 ** 20;
    assert.ok(grew < 100, `${n} sampled requests with 15 KiB paths in 6 s: the proxy's RSS grew ${grew.toFixed(0)} MiB`);
    assert.ok(dropped > 0, `spans beyond the bound are counted as dropped (${dropped})`);
  } finally {
    agent.destroy();
    proxy.child.kill('SIGKILL');
    for (const r of hung) r.destroy();
    await cp.close();
    app.closeAllConnections();
    app.close();
  }
});
