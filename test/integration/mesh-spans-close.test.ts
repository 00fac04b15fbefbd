// Spans buffered while a batch is being sent are not lost when the span sink closes: on SIGTERM (the
// drain waits for the send under way, then sends the rest) and when a snapshot turns tracing off
// (after which the spans counters stay in /metrics). A real berth-proxy process; the stand-in
// control plane takes 1.5 s to accept the first batch.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { httpRequest, portBlock, waitFor } from './harness/berth.js';
import { HOST, request, startProxy, upstream } from './mesh-helpers/proxy.js';
import type { MeshSnapshot, TraceSpan } from '../../src/lib/mesh-protocol.js';
import { standInControl } from './mesh-helpers/stand-in-control.js';

const base = portBlock(6);
const P = { inbound: base, app: base + 1, admin: base + 2, out: base + 3, peer: base + 4, cp: base + 5 };
const self = { name: 'self', port: 1, endpoints: [{ id: 'self-1', host: HOST, port: P.inbound, variant: 'default' }] };
const peer = { name: 'peer', port: 2, endpoints: [{ id: 'peer-1', host: HOST, port: P.peer, variant: 'default' }] };
const snap = (version: number, tracing: boolean): MeshSnapshot => ({ version, app: 'spans', services: [self, peer], config: { accessLog: false, ...(tracing ? { tracing: { sample: 1 } } : {}) } });

const servers: http.Server[] = [];
after(() => {
  for (const s of servers) {
    s.closeAllConnections();
    s.close();
  }
});

/** A control plane whose first span batch takes 1.5 s; `push` sends a snapshot on the watch stream. */
async function controlPlane(): Promise<{ spans: TraceSpan[]; posts: () => number; push(s: MeshSnapshot): void; close(): Promise<void> }> {
  const spans: TraceSpan[] = [];
  let posts = 0;
  const cp = await standInControl({
    host: HOST,
    port: P.cp,
    first: snap(1, true),
    onPost: (url, body, res) => {
      if (url !== '/api/v1/traces') return false;
      posts++;
      spans.push(...(JSON.parse(body) as { spans: TraceSpan[] }).spans);
      setTimeout(() => res.writeHead(204).end(), posts === 1 ? 1500 : 0);
      return true;
    },
  });
  return { spans, posts: () => posts, push: cp.push, close: cp.close };
}

// The third: a SIGTERM while the sink tracing-off closed still sends (stop() did not wait for it).
for (const how of ['SIGTERM', 'tracing turned off', 'tracing turned off, then SIGTERM']) {
  test(`${how}: the spans of requests made while a batch is being sent all reach the control plane`, async () => {
    if (servers.length === 0) servers.push(await upstream(P.app, 'app'), await upstream(P.peer, 'peer'));
    const cp = await controlPlane();
    const proxy = await startProxy({ id: 'self-1', inbound: P.inbound, app: P.app, admin: P.admin, outbound: { peer: P.out }, snapshot: snap(1, true), control: P.cp });
    try {
      await waitFor('tracing on', () => /tracing: sampling/.test(proxy.stderr()), 5000);
      await request(`http://${HOST}:${P.out}/first`);
      await waitFor('first batch posted', () => cp.posts() >= 1, 3000);
      for (let i = 0; i < 5; i++) assert.equal((await request(`http://${HOST}:${P.out}/during-${i}`)).status, 200);
      if (how === 'SIGTERM') {
        proxy.child.kill('SIGTERM');
        await new Promise((r) => proxy.child.once('exit', r));
      } else {
        cp.push(snap(2, false));
        await waitFor('tracing off', async () => JSON.parse((await httpRequest(`http://${HOST}:${P.admin}/mesh/state`)).body).version === 2, 5000);
        if (how.endsWith('SIGTERM')) {
          proxy.child.kill('SIGTERM');
          await new Promise((r) => proxy.child.once('exit', r));
        }
      }
      await waitFor('six spans', () => cp.spans.length >= 6, 5000).catch(() => {});
      assert.deepEqual(cp.spans.map((s) => s.path).sort(), ['/during-0', '/during-1', '/during-2', '/during-3', '/during-4', '/first']);
      if (how === 'tracing turned off') {
        // The counters outlive the sink: tracing is off, what it sent stays counted.
        await waitFor('sent counted', async () => /^berth_proxy_spans_sent_total\{[^}]*\} 6$/m.test((await httpRequest(`http://${HOST}:${P.admin}/metrics`)).body), 5000);
      }
    } finally {
      proxy.child.kill('SIGKILL');
      await cp.close();
    }
  });
}
