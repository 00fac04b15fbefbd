// The service field `protocol` on Kubernetes: the Service port's appProtocol (http, grpc, or
// kubernetes.io/h2c), which is how Istio and Gateway API implementations pick the protocol.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { find, renderYaml } from './helpers.js';

test('protocol becomes the Service port appProtocol; no warning', async () => {
  const res = await renderYaml(`
app: proto
services:
  web: { run: node web.js, port: 8080 }
  greeter: { run: node g.js, port: 9000, protocol: grpc }
  stream: { run: node s.js, port: 9100, protocol: h2c }
`);
  const appProtocol = (name: string): string => find(res, 'Service', name).spec.ports[0].appProtocol as string;
  assert.equal(appProtocol('web'), 'http');
  assert.equal(appProtocol('greeter'), 'grpc');
  assert.equal(appProtocol('stream'), 'kubernetes.io/h2c');
  assert.deepEqual(res.warnings.filter((w) => /protocol|mesh\./.test(w.path)), []);
});
