// A tunnel's flush has a time limit: once both sides ended, what is still owed to a client that
// stopped reading (here its end, never flushed) is given BERTH_PROXY_TUNNEL_FLUSH_MS, then the
// sockets are destroyed — a peer that never reads again must not hold them (FIN-WAIT) for ever.
// (A client that stops reading while its side is open is plain back-pressure, as on any TCP relay.)
import assert from 'node:assert/strict';
import net from 'node:net';
import { Duplex } from 'node:stream';
import { test } from 'node:test';
import { endingUpgradeApp } from '../../helpers/upgrade-app.js';

const FLUSH_MS = 400;
// Read when upgrade.ts is loaded: set it before the dynamic imports below.
process.env.BERTH_PROXY_TUNNEL_FLUSH_MS = String(FLUSH_MS);
const { Cluster } = await import('../../../src/sidecar/proxy/cluster.js');
const { EndpointState } = await import('../../../src/sidecar/proxy/endpoints.js');
const { forwardUpgrade, UpgradeResponse } = await import('../../../src/sidecar/proxy/upgrade.js');
type Pools = import('../../../src/sidecar/proxy/forward.js').Pools;

const HOST = '127.0.0.1';

/** A client link that ends its own side after the 101 head, takes every byte, and never lets its end be flushed. */
class StuckClient extends Duplex {
  bytes = 0;
  override _read(): void {}
  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (err?: Error | null) => void): void {
    if (this.bytes === 0) setImmediate(() => this.push(null));
    this.bytes += chunk.length;
    cb();
  }
  override _final(): void {
    // Never calls back: the end stays queued, as behind a peer's full receive window.
  }
}


test('a client that has stopped reading after both sides ended is closed once the flush time limit passes, not before', async () => {
  const app = await endingUpgradeApp(Buffer.alloc(64 * 1024, 1), HOST);
  const { port } = app.address() as net.AddressInfo;
  try {
    const client = new StuckClient();
    const res = new UpgradeResponse(client, Buffer.alloc(0));
    const cluster = new Cluster('app', [new EndpointState('app-1', { id: 'app-1', host: HOST, port, variant: '' })], undefined);
    const req = { method: 'GET', url: '/ws', headers: { host: 'app', connection: 'upgrade', upgrade: 'websocket' }, destroyed: false };
    const t0 = performance.now();
    forwardUpgrade(req, res, { pools: {} as Pools, cluster });
    const closed = new Promise<number>((r) => client.once('close', () => r(performance.now() - t0)));
    const waited = await Promise.race([closed, new Promise<number>((r) => setTimeout(() => r(-1), FLUSH_MS * 10).unref())]);
    assert.notEqual(waited, -1, `the stuck client was still open after ${FLUSH_MS * 10} ms`);
    assert.ok(client.bytes >= 64 * 1024, `the app's bytes reached the client (${client.bytes})`);
    assert.ok(client.writableEnded, 'the app\'s end was passed on');
    assert.ok(waited >= FLUSH_MS * 0.9, `closed after ${waited.toFixed(0)} ms: before the flush limit of ${FLUSH_MS} ms`);
  } finally {
    app.close();
  }
});
