// An app that stops reading an upload and never answers: the proxy gives up on it after the body
// timeout with a 504 (nginx's proxy_send_timeout, 60 s by default; 2 s here), where it held the
// client, both connections and the request's slots for good (the client's own body timeout does not
// run while the app holds the body back). An app that reads slowly but steadily still gets it all.
// Through one real berth-proxy process (outbound → app).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import http from 'node:http';
import net from 'node:net';
import { portBlock } from './harness/berth.js';
import { HOST, startProxy, type ProxyUnderTest } from './mesh-helpers/proxy.js';
import type { MeshSnapshot } from '../../src/lib/mesh-protocol.js';

const base = portBlock(6);
const P = { inbound: base, stalled: base + 1, admin: base + 2, outStalled: base + 3, slow: base + 4, outSlow: base + 5 };
const BODY_TIMEOUT_MS = 2000;

/** POSTs `total` bytes in 64 KiB pieces as fast as the proxy takes them: the answer's status and body, or what happened. */
function upload(service: 'stalled' | 'slow', total: number): Promise<{ status: number; body: string; ms: number }> {
  const t0 = performance.now();
  return new Promise((resolve) => {
    const req = http.request({ host: HOST, port: service === 'slow' ? P.outSlow : P.outStalled, method: 'POST', path: '/up', agent: false, headers: { host: service, 'content-length': String(total) } }, (res) => {
      let body = '';
      res.on('data', (d: Buffer) => (body += d.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body, ms: performance.now() - t0 }));
      res.on('error', () => resolve({ status: res.statusCode ?? 0, body, ms: performance.now() - t0 }));
    });
    req.on('error', () => {});
    const piece = Buffer.alloc(64 * 1024, 7);
    let sent = 0;
    const more = (): void => {
      while (sent < total) {
        sent += piece.length;
        if (!req.write(piece)) return void req.once('drain', more);
      }
      req.end();
    };
    more();
  });
}

describe('an upload the app stops taking (berth-proxy process)', () => {
  let proxy: ProxyUnderTest;
  const servers: net.Server[] = [];

  before(async () => {
    // Reads the request head, then nothing more, and never answers.
    const stalled = net.createServer((s) => {
      s.once('data', () => s.pause());
      s.on('error', () => {});
    });
    // Reads a piece every 150 ms (slower than the client sends, never idle for a whole timeout), answers the body's digest.
    const slow = http.createServer((req, res) => {
      const h = createHash('sha256');
      req.on('data', (d: Buffer) => {
        h.update(d);
        req.pause();
        setTimeout(() => req.resume(), 150);
      });
      req.on('end', () => res.end(h.digest('hex')));
    });
    for (const [srv, port] of [[stalled, P.stalled], [slow, P.slow]] as const) {
      await new Promise<void>((r) => srv.listen(port, HOST, r));
      servers.push(srv);
    }
    const ep = (id: string, port: number) => ({ id, host: HOST, port, variant: 'default' });
    const snapshot: MeshSnapshot = {
      version: 1,
      app: 'send-stall',
      config: { accessLog: false },
      services: [
        { name: 'self', port: P.inbound, endpoints: [ep('self-1', P.inbound)] },
        { name: 'stalled', port: 1, endpoints: [ep('stalled-1', P.stalled)] },
        { name: 'slow', port: 2, endpoints: [ep('slow-1', P.slow)] },
      ],
    };
    proxy = await startProxy({ id: 'self-1', inbound: P.inbound, app: P.stalled, admin: P.admin, outbound: { stalled: P.outStalled, slow: P.outSlow }, snapshot, env: { BERTH_PROXY_BODY_TIMEOUT_MS: String(BODY_TIMEOUT_MS) } });
  });
  after(() => {
    proxy?.child.kill('SIGKILL');
    for (const s of servers) s.close();
  });

  test('an app that takes none of the body and never answers: 504 once the body timeout passes', { timeout: 20_000 }, async () => {
    const r = await upload('stalled', 64 * 1024 * 1024);
    assert.equal(r.status, 504, r.body);
    assert.ok(r.ms >= BODY_TIMEOUT_MS - 100 && r.ms < 4 * BODY_TIMEOUT_MS, `answered after ${Math.round(r.ms)} ms`);
  });

  test('an app that reads slowly but steadily gets the whole body', { timeout: 30_000 }, async () => {
    const total = 2 * 1024 * 1024;
    const r = await upload('slow', total);
    assert.equal(r.status, 200, r.body);
    assert.equal(r.body, createHash('sha256').update(Buffer.alloc(total, 7)).digest('hex'));
  });
});
