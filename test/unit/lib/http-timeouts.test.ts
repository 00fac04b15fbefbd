// Calls to node agents are bounded: a frozen server (it accepts connections, never answers) makes
// requestJson and subscribeSse fail within their timeout instead of hanging the caller's worker.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import net from 'node:net';
import { requestJson, subscribeSse } from '../../../src/lib/http.js';

/** Accepts TCP connections and never reads or writes: what a SIGSTOPped agent looks like (the kernel accepts for it). */
async function frozenServer(): Promise<{ port: number; close: () => void }> {
  const sockets: net.Socket[] = [];
  const server = net.createServer((s) => sockets.push(s));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as net.AddressInfo).port;
  return { port, close: () => { for (const s of sockets) s.destroy(); server.close(); } };
}

const servers: { close: () => void }[] = [];
after(() => { for (const s of servers) s.close(); });

test('subscribeSse rejects when a frozen server never answers within timeoutMs', async () => {
  const frozen = await frozenServer();
  servers.push(frozen);
  const t0 = performance.now();
  const outcome = await Promise.race([
    subscribeSse({ port: frozen.port, timeoutMs: 200 }, '/watch', () => {}, () => {}).then(
      (close) => { close(); return 'connected'; },
      (err: Error) => `rejected: ${err.message}`,
    ),
    new Promise<string>((r) => setTimeout(() => r('still hanging after 3 s'), 3000).unref()),
  ]);
  assert.match(outcome, /^rejected: GET \/watch: no answer within 200 ms$/);
  assert.ok(performance.now() - t0 < 2000);
});

test('requestJson to a frozen server fails within its timeout', async () => {
  const frozen = await frozenServer();
  servers.push(frozen);
  const t0 = performance.now();
  await assert.rejects(requestJson({ port: frozen.port, timeoutMs: 200 }, 'GET', '/instances'), /timed out/);
  assert.ok(performance.now() - t0 < 2000);
});

test('an open event stream that is quiet longer than timeoutMs stays open', async () => {
  const server = http.createServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'text/event-stream' });
    res.write(': open\n\n');
    setTimeout(() => res.write('event: change\ndata: 1\n\n'), 400);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  servers.push({ close: () => { server.closeAllConnections(); server.close(); } });
  let closed = false;
  const got = new Promise<string>((resolve) => {
    void subscribeSse({ port: (server.address() as net.AddressInfo).port, timeoutMs: 100 }, '/watch', (event) => resolve(event), () => (closed = true)).then((close) => servers.push({ close }));
  });
  assert.equal(await got, 'change');
  assert.equal(closed, false, 'the 100 ms timeout covers the answer, not the quiet stream');
});
