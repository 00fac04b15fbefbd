// An upgrade request's body (Content-Length) goes up before the answer; an app that does not read it
// must hold the client back. It was written to the app's socket whatever the app read: a client
// declaring a huge length and sending fast grew a sidecar by hundreds of MB a second (2.3 GB in 8 s
// through an outbound/inbound pair to an app that never read).
import assert from 'node:assert/strict';
import net from 'node:net';
import { Duplex } from 'node:stream';
import { test } from 'node:test';
import { Cluster } from '../../../src/sidecar/proxy/cluster.js';
import { EndpointState } from '../../../src/sidecar/proxy/endpoints.js';
import type { Pools } from '../../../src/sidecar/proxy/forward.js';
import { forwardUpgrade, UpgradeResponse } from '../../../src/sidecar/proxy/upgrade.js';

const HOST = '127.0.0.1';
const CHUNK = Buffer.alloc(64 * 1024, 7);

/** A client that sends as fast as it is read, up to `limit` bytes, and counts what was taken from it. */
class FastSender extends Duplex {
  taken = 0;
  constructor(private readonly limit: number) {
    super();
  }
  override _read(): void {
    if (this.taken >= this.limit) return;
    this.taken += CHUNK.length;
    this.push(CHUNK);
  }
  override _write(_chunk: Buffer, _enc: BufferEncoding, cb: (err?: Error | null) => void): void {
    cb();
  }
}

test('the body of an upgrade request is read no faster than the app reads it', async () => {
  // The app takes the connection and never reads (busy, or deciding slowly).
  const sockets: net.Socket[] = [];
  const app = net.createServer((s) => {
    s.pause();
    s.on('error', () => {});
    sockets.push(s);
  });
  await new Promise<void>((r) => app.listen(0, HOST, r));
  const { port } = app.address() as net.AddressInfo;
  const LIMIT = 256 * 1024 * 1024;
  const client = new FastSender(LIMIT);
  try {
    const res = new UpgradeResponse(client, Buffer.alloc(0));
    const cluster = new Cluster('app', [new EndpointState('app-1', { id: 'app-1', host: HOST, port, variant: '' })], undefined);
    const req = { method: 'GET', url: '/ws', headers: { host: 'app', connection: 'upgrade', upgrade: 'websocket', 'content-length': String(LIMIT * 4) }, destroyed: false };
    forwardUpgrade(req, res, { pools: {} as Pools, cluster });
    await new Promise((r) => setTimeout(r, 1000));
    // Kernel buffers on both sides of the app's connection plus a socket's queue: a few MB at most.
    assert.ok(client.taken < 32 * 1024 * 1024, `${(client.taken / 1048576).toFixed(0)} MiB of the body were read from the client while the app read none`);
  } finally {
    client.destroy();
    for (const s of sockets) s.destroy();
    app.close();
  }
});
