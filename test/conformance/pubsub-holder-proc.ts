// A separate process that holds the embedded pub/sub: publishes the messages given on argv to a
// topic, subscribes, prints "GOT <data>" for each delivery and never answers (it is killed).
import { createPubSub } from '../../src/components/index.js';

const [file, topic, group, ...messages] = process.argv.slice(2);
const ps = createPubSub(
  { name: 'pubsub', type: 'pubsub.sqlite', version: 'v1', metadata: { connectionString: file, processingTimeout: '300ms', pollInterval: '20ms' }, scopes: [] },
  { appId: 'holder' },
);
await ps.subscribe({
  topic,
  consumerGroup: group,
  handler: (m) => {
    process.stdout.write(`GOT ${m.data.toString()}\n`);
    return new Promise(() => undefined);
  },
});
for (const m of messages) await ps.publish({ topic, data: m });
process.stdout.write('READY\n');
