// `berth top` with a variant (issue 12 point 16): the service's own row (variant `default`) shows
// its instances, its requests per second and its replicas together — not split into a row with the
// replicas but 0 instances and 0 req/s, and another with the traffic but no replicas.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { berth, berthOk, httpRequest, portBlock, tempApp } from './harness/berth.js';

const appJs = `
import http from 'node:http';
http.createServer((req, res) => res.end(process.env.BERTH_VARIANT)).listen(Number(process.env.PORT), process.env.HOST);
`;

const base = portBlock(2);
const ports = { ingress: base, api: base + 1 };
const dir = tempApp({
  'api.mjs': appJs,
  'berth.yaml': `app: topvariants
ingress:
  port: ${ports.ingress}
  routes:
    - to: api
services:
  api:
    run: node api.mjs
    port: ${ports.api}
    replicas: 2
    probes:
      readiness: { tcp: {}, periodSeconds: 0.2 }
    variants:
      canary: { replicas: 1 }
    routes:
      - to:
          - { service: api, variant: default, weight: 50 }
          - { service: api, variant: canary, weight: 50 }
`,
});

after(async () => {
  await berth(dir, ['down']);
});

test('berth top --json: one row per service and variant, each with its instances, req/s and replicas', async () => {
  await berthOk(dir, ['up', '-d', '--wait', '--timeout', '60']);
  let stop = false;
  const load = (async () => {
    while (!stop) await httpRequest(`http://127.0.0.1:${ports.ingress}/`).catch(() => undefined);
  })();
  const r = await berthOk(dir, ['top', '--json', '--interval', '1']);
  stop = true;
  await load;
  const rows = JSON.parse(r.stdout) as { service: string; variant: string; rps: number; instances: number; replicas?: number }[];
  const api = rows.filter((x) => x.service === 'api');
  assert.deepEqual(api.map((x) => x.variant).sort(), ['canary', 'default'], r.stdout);
  const own = api.find((x) => x.variant === 'default')!;
  const canary = api.find((x) => x.variant === 'canary')!;
  assert.equal(own.instances, 2, r.stdout);
  assert.equal(own.replicas, 2, r.stdout);
  assert.ok(own.rps > 0, r.stdout);
  assert.equal(canary.instances, 1, r.stdout);
  assert.equal(canary.replicas, 1, r.stdout);
  assert.ok(canary.rps > 0, r.stdout);
});
