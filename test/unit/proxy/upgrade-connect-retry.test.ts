// An upgrade whose connection to the endpoint is refused (an instance just gone: a rolling
// replacement) is tried on another endpoint, as every other request that reached no app is. Upgrades
// got a 503 `upstream-connect-failure` whenever they were given such an endpoint (with two endpoints,
// one gone, half of all WebSocket connects through a sidecar failed), while plain requests went on.
import assert from 'node:assert/strict';
import net from 'node:net';
import { Duplex } from 'node:stream';
import { test } from 'node:test';
import { endingUpgradeApp } from '../../helpers/upgrade-app.js';
import { Cluster } from '../../../src/sidecar/proxy/cluster.js';
import { EndpointState } from '../../../src/sidecar/proxy/endpoints.js';
import type { Pools } from '../../../src/sidecar/proxy/forward.js';
import { forwardUpgrade, UpgradeResponse } from '../../../src/sidecar/proxy/upgrade.js';

const HOST = '127.0.0.1';

/** A client link that keeps what it is sent and ends when the tunnel does. */
class Client extends Duplex {
  got = '';
  override _read(): void {}
  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (err?: Error | null) => void): void {
    this.got += chunk.toString('latin1');
    cb();
  }
  override _final(cb: (err?: Error | null) => void): void {
    this.push(null);
    cb();
  }
}

/** A port nothing listens on. */
async function deadPort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((r) => s.listen(0, HOST, r));
  const { port } = s.address() as net.AddressInfo;
  await new Promise((r) => s.close(r));
  return port;
}

test('an upgrade refused by one endpoint goes to another', async () => {
  const app = await endingUpgradeApp(Buffer.from('bye'), HOST);
  const live = (app.address() as net.AddressInfo).port;
  const dead = await deadPort();
  try {
    const cluster = new Cluster(
      'app',
      [new EndpointState('gone-1', { id: 'gone-1', host: HOST, port: dead, variant: '' }), new EndpointState('app-1', { id: 'app-1', host: HOST, port: live, variant: '' })],
      { balancer: 'round_robin' },
    );
    const answers: string[] = [];
    const served: (string | undefined)[] = [];
    for (let i = 0; i < 4; i++) {
      const client = new Client();
      const res = new UpgradeResponse(client, Buffer.alloc(0));
      const req = { method: 'GET', url: '/ws', headers: { host: 'app', connection: 'upgrade', upgrade: 'websocket' }, destroyed: false };
      const done = new Promise<void>((r) => forwardUpgrade(req, res, { pools: {} as Pools, cluster, done: (_status, ep) => (served.push(ep?.id), r()) }));
      await Promise.race([new Promise((r) => client.once('finish', r)), done, new Promise((r) => setTimeout(r, 3000).unref())]);
      answers.push(client.got.split('\r\n')[0]);
      client.destroy();
      await done;
    }
    assert.deepEqual(answers, Array(4).fill('HTTP/1.1 101 Switching Protocols'), served.join(','));
    assert.deepEqual(served, Array(4).fill('app-1'));
    assert.deepEqual(
      cluster.endpoints.map((e) => e.active),
      [0, 0],
      'no endpoint keeps an upgrade counted',
    );
  } finally {
    app.close();
  }
});

/** A peer proxy that answers every request with its own 503 (`reason`), or, without one, an app's plain 503. */
async function answering503(reason: string | undefined): Promise<net.Server> {
  const s = net.createServer((c) => {
    c.on('error', () => {});
    c.once('data', () => c.end(`HTTP/1.1 503 Service Unavailable\r\ncontent-length: 9\r\n${reason ? `x-berth-reason: ${reason}\r\n` : ''}\r\nnot ready`));
  });
  await new Promise<void>((r) => s.listen(0, HOST, r));
  return s;
}

test("an upgrade answered by a peer proxy's own 503 (its app never got it: not ready, draining) goes to another endpoint; an app's own 503 is the answer", async () => {
  const app = await endingUpgradeApp(Buffer.from('bye'), HOST);
  const live = (app.address() as net.AddressInfo).port;
  const servers = [app];
  try {
    for (const [reason, toApp, want] of [
      ['app-not-ready', false, '101'],
      ['draining', false, '101'],
      // Said by the app itself (no reason, or a sidecar's port to its own app): passed on as it is.
      [undefined, false, '503'],
      ['app-not-ready', true, '503'],
    ] as const) {
      const peer = await answering503(reason);
      servers.push(peer);
      const cluster = new Cluster(
        'app',
        [new EndpointState('busy-1', { id: 'busy-1', host: HOST, port: (peer.address() as net.AddressInfo).port, variant: '' }), new EndpointState('app-1', { id: 'app-1', host: HOST, port: live, variant: '' })],
        { balancer: 'round_robin' },
      );
      const statuses: string[] = [];
      for (let i = 0; i < 2; i++) {
        const client = new Client();
        const res = new UpgradeResponse(client, Buffer.alloc(0));
        const req = { method: 'GET', url: '/ws', headers: { host: 'app', connection: 'upgrade', upgrade: 'websocket' }, destroyed: false };
        const done = new Promise<void>((r) => forwardUpgrade(req, res, { pools: {} as Pools, cluster, ...(toApp ? { app: true } : {}), done: () => r() }));
        await Promise.race([new Promise((r) => client.once('finish', r)), done, new Promise((r) => setTimeout(r, 3000).unref())]);
        statuses.push(client.got.split('\r\n')[0].split(' ')[1]);
        client.destroy();
        await done;
      }
      // Round robin: one of the two upgrades is first sent to the 503 endpoint.
      assert.deepEqual(statuses.sort(), want === '101' ? ['101', '101'] : ['101', '503'], `${reason ?? "an app's own"}${toApp ? ' (to the app)' : ''}`);
      assert.deepEqual(cluster.endpoints.map((e) => e.active), [0, 0], 'no endpoint keeps an upgrade counted');
    }
  } finally {
    for (const s of servers) s.close();
  }
});
