// The app the Dapr SDK tests run under `berth up`: the official JS SDK's DaprServer (subscriptions,
// invocation targets) and DaprClient with default settings (it finds its sidecar through
// DAPR_HTTP_PORT / DAPR_HTTP_ENDPOINT alone). What it receives it writes to its state store, so the
// test sees deliveries whichever instance took them.
import { join } from 'node:path';
import { repoRoot } from './harness/berth.js';

export const daprSdkApp = `
import { createRequire } from 'node:module';
const require = createRequire(${JSON.stringify(join(repoRoot, 'package.json'))});
const { DaprServer, DaprClient, HttpMethod, DaprPubSubStatusEnum, CommunicationProtocolEnum } = require('@dapr/dapr');
const STORE = process.env.STORE ?? 'statestore';
const PUBSUB = process.env.PUBSUB ?? 'pubsub';
const client = new DaprClient({ communicationProtocol: CommunicationProtocolEnum.HTTP });
const server = new DaprServer({ clientOptions: { daprHost: '127.0.0.1', daprPort: process.env.DAPR_HTTP_PORT } });
const record = async (key, value) => { await client.state.save(STORE, [{ key, value }]); };

await server.invoker.listen('ready', async () => 'ok', { method: HttpMethod.GET });
await server.invoker.listen('ping', async (req) => ({ from: process.env.APP_ID, instance: process.env.BERTH_INSTANCE, got: req.body ? JSON.parse(req.body) : null, query: req.query ?? null }), { method: HttpMethod.POST });
await server.invoker.listen('whoami', async () => ({ appId: process.env.APP_ID, instance: process.env.BERTH_INSTANCE, daprPort: process.env.DAPR_HTTP_PORT }), { method: HttpMethod.GET });
// The default client (new DaprClient(), no options) reaches this instance's own sidecar.
await server.invoker.listen('selfcheck', async () => {
  const c = new DaprClient();
  const key = 'self-' + process.env.BERTH_INSTANCE;
  await c.state.save(STORE, [{ key, value: { instance: process.env.BERTH_INSTANCE } }]);
  const meta = await c.metadata.get();
  return { stored: await c.state.get(STORE, key), metadataId: meta.id };
}, { method: HttpMethod.GET });

if (process.env.SUBSCRIBE === '1') {
  await server.pubsub.subscribe(PUBSUB, 'orders', async (data, headers) => {
    await record('recv-' + data.id, { data, instance: process.env.BERTH_INSTANCE });
    return DaprPubSubStatusEnum.SUCCESS;
  });
  await server.pubsub.subscribe(PUBSUB, 'flaky', async (data) => {
    const key = 'attempts-' + data.id;
    const n = ((await client.state.get(STORE, key)) || 0) + 1;
    await record(key, n);
    return n < 3 ? DaprPubSubStatusEnum.RETRY : DaprPubSubStatusEnum.SUCCESS;
  });
  await server.pubsub.subscribeWithOptions(PUBSUB, 'poison', {
    callback: async () => DaprPubSubStatusEnum.DROP,
    deadLetterTopic: 'poison-dead',
  });
  // As with Dapr, dead letters reach the app through a subscription to the dead-letter topic.
  await server.pubsub.subscribe(PUBSUB, 'poison-dead', async (data) => { await record('dead-' + data.id, data); });
  await server.pubsub.subscribeWithOptions(PUBSUB, 'routed', {
    route: { rules: [{ match: 'event.data.kind == "big"', path: '/routed-big' }], default: '/routed-small' },
  });
  server.pubsub.subscribeToRoute(PUBSUB, 'routed', '/routed-big', async (data) => { await record('big-' + data.id, data); });
  server.pubsub.subscribeToRoute(PUBSUB, 'routed', '/routed-small', async (data) => { await record('small-' + data.id, data); });
}
if (process.env.BINDING === '1') {
  // Input binding (bindings.cron): the sidecar POSTs /tick on schedule.
  await server.binding.receive('tick', async () => { await record('tick-' + process.env.BERTH_INSTANCE, Date.now()); });
}
await server.start();
process.on('SIGTERM', () => { server.stop().catch(() => {}).finally(() => process.exit(0)); setTimeout(() => process.exit(0), 3000).unref(); });
`;

/** A worker without a port: `new DaprClient()` alone, through its instance's API-only proxy. */
export const daprSdkWorker = `
import { createRequire } from 'node:module';
const require = createRequire(${JSON.stringify(join(repoRoot, 'package.json'))});
const { DaprClient } = require('@dapr/dapr');
const client = new DaprClient();
await client.state.save('statestore', [{ key: 'worker-ok', value: { appId: process.env.APP_ID } }]);
// A topic nobody subscribes to yet drops what is published (as Redis and Dapr's brokers do for a
// group that does not exist yet), and orders' sidecar subscribes only once its app answered
// /dapr/subscribe: publish every second, so delivery does not depend on who started first.
const publish = () => client.pubsub.publish('pubsub', 'orders', { id: 'from-worker' }).catch(() => {});
await publish();
setInterval(publish, 1000);
process.on('SIGTERM', () => process.exit(0));
`;
