// A restarted control plane listens on its predecessor's port at once (so an open dashboard keeps
// working), before start() has adopted the running instances. Proxies reconnect to that port
// immediately; a snapshot then would list no ready endpoint and they would answer 503 "no ready
// endpoint" (CI saw it in the mesh test's control-plane kill). The snapshot watch answers 503 until
// announced(), and streams snapshots after.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import { ControlPlane } from '../../../src/control/control-plane.js';
import { createApiServer } from '../../../src/control/api.js';

/** GET the watch route; the status and, for a stream, the first chunk. */
function watch(port: number, token: string): Promise<{ status: number; first: string }> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port, path: '/api/v1/mesh/watch?proxy=p1', headers: { authorization: `Bearer ${token}` } }, (res) => {
      res.once('data', (d: Buffer) => {
        resolve({ status: res.statusCode ?? 0, first: d.toString() });
        req.destroy();
      });
    });
    req.on('error', reject);
  });
}

test('the mesh snapshot watch waits for announced(): 503 before, a snapshot stream after', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'berth-announce-'));
  const token = 't'.repeat(32);
  const plane = new ControlPlane({ stateDir: dir, token, log: () => {} });
  const server = createApiServer({ plane, token, onDown: () => {} });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;
  try {
    const before = await watch(port, token);
    assert.equal(before.status, 503);
    assert.match(before.first, /starting/);
    plane.announced();
    const after = await watch(port, token);
    assert.equal(after.status, 200);
    assert.match(after.first, /^(event|:|retry|data)/m);
  } finally {
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
    plane.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
