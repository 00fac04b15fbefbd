// The sidecar asks its app for programmatic subscriptions (GET /dapr/subscribe) once it is ready and
// again only while the app does not answer. An app that answers 2xx with a body that is not JSON
// (a catch-all handler answering "ok") was asked again every 0.5 s for the sidecar's whole life.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Subscriber } from '../../../src/sidecar/proxy/dapr/subscriptions.js';
import type { ComponentRegistry } from '../../../src/sidecar/proxy/dapr/registry.js';

/** An app answering every request 200 "ok"; counts the GET /dapr/subscribe it receives. */
async function okApp(): Promise<{ port: number; asked: () => number; close(): void }> {
  let asked = 0;
  const server = http.createServer((req, res) => {
    if (req.url === '/dapr/subscribe') asked++;
    res.end('ok');
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { port: (server.address() as AddressInfo).port, asked: () => asked, close: () => server.close() };
}

test('an app answering /dapr/subscribe with a body that is not JSON is asked once, and gets no subscriptions', async () => {
  const app = await okApp();
  const logs: string[] = [];
  // No declared subscriptions: the registry is asked for nothing else.
  const registry = { cfg: { subscriptions: [] } } as unknown as ComponentRegistry;
  const sub = new Subscriber(registry, () => ({ host: '127.0.0.1', port: app.port }), { appId: 'a', log: (m) => logs.push(m) });
  try {
    const started = sub.start();
    const outcome = await Promise.race([started.then(() => 'started'), new Promise((r) => setTimeout(() => r('still asking'), 1600))]);
    assert.equal(outcome, 'started');
    await new Promise((r) => setTimeout(r, 600)); // a retry would come 0.5 s later
    assert.equal(app.asked(), 1);
    assert.deepEqual(sub.active, []);
    assert.ok(logs.some((l) => l.includes('did not answer a JSON array')), logs.join('\n'));
  } finally {
    await sub.stop();
    app.close();
  }
});
