// A tunnel idle in both directions for BERTH_PROXY_TUNNEL_IDLE_MS is closed (Envoy's TCP proxy idle
// timeout, 1 h by default); one that carries bytes stays. A tunnel whose client half-closed while the
// app kept its side open and silent (or a peer gone without a FIN) was held, with the app's
// connection, for good.
import assert from 'node:assert/strict';
import net from 'node:net';
import { test } from 'node:test';

const IDLE_MS = 400;
// Read when upgrade.ts is loaded: set it before the dynamic imports below.
process.env.BERTH_PROXY_TUNNEL_IDLE_MS = String(IDLE_MS);
const { Cluster } = await import('../../../src/sidecar/proxy/cluster.js');
const { EndpointState } = await import('../../../src/sidecar/proxy/endpoints.js');
const { forwardUpgrade, UpgradeResponse } = await import('../../../src/sidecar/proxy/upgrade.js');
type Pools = import('../../../src/sidecar/proxy/forward.js').Pools;

const HOST = '127.0.0.1';

/** An app that answers 101 and then echoes, never ending its side; its sockets are kept to look at. */
async function silentApp(): Promise<{ server: net.Server; sockets: net.Socket[] }> {
  const sockets: net.Socket[] = [];
  const server = net.createServer({ allowHalfOpen: true }, (s) => {
    sockets.push(s);
    s.on('error', () => {});
    let head = '';
    const onHead = (d: Buffer): void => {
      head += d.toString('latin1');
      if (!head.includes('\r\n\r\n')) return;
      s.off('data', onHead);
      s.write('HTTP/1.1 101 Switching Protocols\r\nupgrade: websocket\r\nconnection: upgrade\r\n\r\n');
      s.on('data', (x: Buffer) => s.write(x));
    };
    s.on('data', onHead);
  });
  await new Promise<void>((r) => server.listen(0, HOST, r));
  return { server, sockets };
}

/** A real client socket pair: `proxySide` is what the proxy owns, `client` what the test drives. */
async function socketPair(): Promise<{ client: net.Socket; proxySide: net.Socket; close: () => void }> {
  const server = net.createServer({ allowHalfOpen: true });
  await new Promise<void>((r) => server.listen(0, HOST, r));
  const accepted = new Promise<net.Socket>((r) => server.once('connection', r));
  const client = net.connect({ port: (server.address() as net.AddressInfo).port, host: HOST, allowHalfOpen: true });
  const proxySide = await accepted;
  return { client, proxySide, close: () => server.close() };
}

async function openTunnel(appPort: number): Promise<{ client: net.Socket; proxySide: net.Socket; received: () => string; close: () => void }> {
  const { client, proxySide, close } = await socketPair();
  client.on('error', () => {});
  let got = '';
  client.on('data', (d: Buffer) => (got += d.toString('latin1')));
  const res = new UpgradeResponse(proxySide, Buffer.alloc(0));
  const cluster = new Cluster('app', [new EndpointState('app-1', { id: 'app-1', host: HOST, port: appPort, variant: '' })], undefined);
  const req = { method: 'GET', url: '/ws', headers: { host: 'app', connection: 'upgrade', upgrade: 'websocket' }, destroyed: false };
  forwardUpgrade(req, res, { pools: {} as Pools, cluster });
  const t0 = performance.now();
  while (!got.includes('\r\n\r\n') && performance.now() - t0 < 3000) await new Promise((r) => setTimeout(r, 10));
  assert.match(got, /^HTTP\/1\.1 101 /);
  return { client, proxySide, received: () => got.slice(got.indexOf('\r\n\r\n') + 4), close };
}

test('a tunnel half-closed by its client while the app stays silent is closed after the idle time, the app\'s connection too', async () => {
  const app = await silentApp();
  const t = await openTunnel((app.server.address() as net.AddressInfo).port);
  try {
    t.client.end();
    const closed = new Promise<boolean>((r) => t.client.once('close', () => r(true)));
    const ok = await Promise.race([closed, new Promise<boolean>((r) => setTimeout(() => r(false), IDLE_MS * 8).unref())]);
    assert.ok(ok, `the idle half-closed tunnel was still open after ${IDLE_MS * 8} ms`);
    await new Promise((r) => setTimeout(r, 100));
    assert.ok(app.sockets[0].destroyed || app.sockets[0].readableEnded, 'the app\'s connection was let go');
  } finally {
    t.client.destroy();
    t.close();
    for (const s of app.sockets) s.destroy();
    app.server.close();
  }
});

test('a tunnel carrying bytes now and then is not closed as idle', async () => {
  const app = await silentApp();
  const t = await openTunnel((app.server.address() as net.AddressInfo).port);
  try {
    for (let i = 0; i < 8; i++) {
      t.client.write(`${i};`);
      await new Promise((r) => setTimeout(r, IDLE_MS / 2));
    }
    assert.ok(!t.client.destroyed && !t.proxySide.destroyed, 'the tunnel stayed open');
    assert.equal(t.received(), '0;1;2;3;4;5;6;7;');
  } finally {
    t.client.destroy();
    t.close();
    for (const s of app.sockets) s.destroy();
    app.server.close();
  }
});
