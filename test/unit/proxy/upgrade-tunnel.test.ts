// A tunnel (after a 101) to a real app socket, with a client whose writes take a while to be
// delivered (a slow reader's socket, made deterministic): the app's last bytes, still queued for the
// client when the app's end comes, must be delivered before the client's end. The tunnel used to
// destroy the client once the app's socket closed: a clean close with the tail missing.
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import net from 'node:net';
import { Duplex } from 'node:stream';
import { test } from 'node:test';
import { endingUpgradeApp } from '../../helpers/upgrade-app.js';
import { Cluster } from '../../../src/sidecar/proxy/cluster.js';
import { EndpointState } from '../../../src/sidecar/proxy/endpoints.js';
import type { Pools } from '../../../src/sidecar/proxy/forward.js';
import { forwardUpgrade, UpgradeResponse } from '../../../src/sidecar/proxy/upgrade.js';

const HOST = '127.0.0.1';
const TAIL = randomBytes(256 * 1024);
const sha256 = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

/** A client link that delivers each write 20 ms after it is made; destroyed, it delivers nothing more. */
class SlowClient extends Duplex {
  readonly delivered: Buffer[] = [];
  ended = false;

  override _read(): void {}

  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (err?: Error | null) => void): void {
    setTimeout(() => {
      if (this.destroyed) return;
      this.delivered.push(chunk);
      cb();
    }, 20);
  }

  override _final(cb: (err?: Error | null) => void): void {
    this.ended = true;
    cb();
  }
}


test('a tunnel delivers the app\'s last bytes to a slow client before ending it, then closes once the client ended too', async () => {
  const app = await endingUpgradeApp(TAIL, HOST);
  const { port } = app.address() as net.AddressInfo;
  try {
    const client = new SlowClient();
    const res = new UpgradeResponse(client, Buffer.alloc(0));
    const cluster = new Cluster('app', [new EndpointState('app-1', { id: 'app-1', host: HOST, port, variant: '' })], undefined);
    const req = { method: 'GET', url: '/ws', headers: { host: 'app', connection: 'upgrade', upgrade: 'websocket' }, destroyed: false };
    forwardUpgrade(req, res, { pools: {} as Pools, cluster });
    const finished = new Promise((r) => client.once('finish', r));
    const closed = new Promise((r) => client.once('close', r));
    await Promise.race([finished, closed]);
    const all = Buffer.concat(client.delivered);
    const body = all.subarray(all.indexOf('\r\n\r\n') + 4);
    assert.match(all.toString('latin1', 0, 12), /^HTTP\/1\.1 101/);
    assert.equal(body.length, TAIL.length, 'every byte the app sent before its end was delivered');
    assert.equal(sha256(body), sha256(TAIL));
    assert.ok(client.ended, 'then the end');
    // The client ends its side too: nothing is left open.
    client.push(null);
    await Promise.race([closed, new Promise((r) => setTimeout(r, 2000).unref())]);
    assert.ok(client.destroyed, 'the tunnel closed once both sides ended');
  } finally {
    app.close();
  }
});
