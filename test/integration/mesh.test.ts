// The mesh through `berth up`: the ingress routes by path, apps reach used services through their own
// sidecar (BERTH_<NAME>_URL) and through the forward proxy (BERTH_PROXY_URL), the first request after
// `up --wait` is served, and traffic keeps flowing while the control plane is killed and comes back.
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import http from 'node:http';
import { join } from 'node:path';
import { berth, berthOk, httpRequest, portBlock, processAlive, ps, tempApp, waitFor } from './harness/berth.js';

const apiJs = `
import http from 'node:http';
let ready = false;
setTimeout(() => (ready = true), 300);
http.createServer((req, res) => {
  if (req.url === '/ready') { res.statusCode = ready ? 200 : 503; return res.end(); }
  if (req.url === '/toggle-ready') { ready = !ready; return res.end(String(ready)); }
  res.setHeader('content-type', 'application/json');
  res.end(JSON.stringify({ service: 'api', instance: process.env.BERTH_INSTANCE, path: req.url }));
}).listen(Number(process.env.PORT), process.env.HOST);
`;

const webJs = `
import http from 'node:http';
function viaProxy(target) {
  const proxy = new URL(process.env.BERTH_PROXY_URL);
  return new Promise((resolve, reject) => {
    const req = http.request({ host: proxy.hostname, port: proxy.port, path: target, headers: { host: new URL(target).host } }, (res) => {
      let body = ''; res.on('data', (d) => (body += d)); res.on('end', () => resolve(body));
    });
    req.on('error', reject); req.end();
  });
}
http.createServer(async (req, res) => {
  try {
    if (req.url === '/ready') return res.end('ok');
    if (req.url === '/call') return res.end(await (await fetch(process.env.BERTH_API_URL + '/from-web')).text());
    if (req.url === '/via-proxy') return res.end(await viaProxy('http://api/through-proxy'));
    res.end(JSON.stringify({ service: 'web', path: req.url }));
  } catch (err) { res.statusCode = 500; res.end(String(err)); }
}).listen(Number(process.env.PORT), process.env.HOST);
`;

describe('service mesh', () => {
  const base = portBlock(5);
  const ports = { ingress: base, api: base + 1, web: base + 2 };
  const dir = tempApp({
    'api.mjs': apiJs,
    'web.mjs': webJs,
    'berth.yaml': `app: meshy
ingress:
  port: ${ports.ingress}
  routes:
    - match: { path: { prefix: /api } }
      to: api
    - to: web
services:
  api:
    run: node api.mjs
    port: ${ports.api}
    replicas: 2
    probes:
      readiness: { http: { path: /ready }, periodSeconds: 0.2 }
  web:
    run: node web.mjs
    port: ${ports.web}
    uses: [api]
    probes:
      readiness: { http: { path: /ready }, periodSeconds: 0.2 }
`,
  });
  after(async () => {
    await berth(dir, ['down']);
  });

  test('up --wait: the first request through the ingress is served; routes pick the service by path', async () => {
    await berthOk(dir, ['up', '-d', '--wait', '--timeout', '30']);
    const first = await httpRequest(`http://127.0.0.1:${ports.ingress}/api/hello`);
    assert.equal(first.status, 200, first.body);
    assert.equal(JSON.parse(first.body).service, 'api');
    assert.equal(JSON.parse((await httpRequest(`http://127.0.0.1:${ports.ingress}/`)).body).service, 'web');
    assert.equal(JSON.parse((await httpRequest(`http://127.0.0.1:${ports.ingress}/apix`)).body).service, 'api', 'prefix is a plain string prefix (Istio)');
    const seen = new Set<string>();
    for (let i = 0; i < 10; i++) seen.add(JSON.parse((await httpRequest(`http://127.0.0.1:${ports.ingress}/api/${i}`)).body).instance);
    assert.equal(seen.size, 2, 'both api instances serve');
    // The service's own 127.0.0.1 address is served by the mesh gateway too.
    assert.equal(JSON.parse((await httpRequest(`http://127.0.0.1:${ports.api}/direct`)).body).path, '/direct');
  });

  test('every instance runs berth-proxy; the app listens on a private port behind it', async () => {
    const rows = await ps(dir);
    assert.equal(rows.length, 3);
    for (const r of rows) assert.ok(r.sidecars.some((s) => s.name === 'berth-proxy' && s.pid), `${r.instance} has berth-proxy`);
    const api = rows.find((r) => r.service === 'api')!;
    const viaSidecar = await httpRequest(`http://${api.host}:${ports.api}/inbound`);
    assert.equal(JSON.parse(viaSidecar.body).instance, api.instance);
  });

  test('apps call used services through their sidecar: BERTH_API_URL and BERTH_PROXY_URL', async () => {
    const call = await httpRequest(`http://127.0.0.1:${ports.ingress}/call`);
    assert.equal(call.status, 200, call.body);
    assert.deepEqual(JSON.parse(call.body).path, '/from-web');
    const proxied = await httpRequest(`http://127.0.0.1:${ports.ingress}/via-proxy`);
    assert.equal(proxied.status, 200, proxied.body);
    assert.deepEqual(JSON.parse(proxied.body).path, '/through-proxy');
    const env = await berthOk(dir, ['exec', 'web', '--', 'sh', '-c', 'echo $BERTH_API_URL $BERTH_PROXY_URL $HOST $PORT']);
    const [apiUrl, proxyUrl, host, port] = env.stdout.trim().split(' ');
    assert.equal(new URL(apiUrl).hostname, host);
    assert.equal(new URL(proxyUrl).hostname, host);
    assert.notEqual(Number(port), ports.web, 'the app has a private port');
  });

  test('an instance whose readiness fails is withdrawn from the mesh, and registered again when it passes', async () => {
    const rows = (await ps(dir)).filter((r) => r.service === 'api');
    const victim = rows[0];
    assert.equal((await httpRequest(`http://${victim.host}:${ports.api}/toggle-ready`)).body, 'false');
    await waitFor('victim unready', async () => (await ps(dir)).some((r) => r.instance === victim.instance && !r.ready));
    await waitFor('mesh synced without it', async () => {
      const served = new Set<string>();
      for (let i = 0; i < 10; i++) served.add(JSON.parse((await httpRequest(`http://127.0.0.1:${ports.ingress}/api/w`)).body).instance);
      return !served.has(victim.instance);
    });
    for (let i = 0; i < 20; i++) assert.notEqual(JSON.parse((await httpRequest(`http://127.0.0.1:${ports.ingress}/api/w`)).body).instance, victim.instance);
    // Its own inbound proxy refuses traffic too (503 with a reason), while the app itself still runs.
    const direct = await httpRequest(`http://${victim.host}:${ports.api}/x`);
    assert.equal(direct.status, 503);
    // Toggle back through the app's private port (the proxy no longer lets traffic in).
    const env = await berthOk(dir, ['exec', 'api', '--instance', victim.instance, '--', 'sh', '-c', 'echo $PORT']);
    assert.equal((await httpRequest(`http://${victim.host}:${env.stdout.trim()}/toggle-ready`)).body, 'true');
    await waitFor('registered again', async () => {
      const served = new Set<string>();
      for (let i = 0; i < 10; i++) served.add(JSON.parse((await httpRequest(`http://127.0.0.1:${ports.ingress}/api/w`)).body).instance);
      return served.has(victim.instance);
    });
  });

  test('berth top --json: requests/s, p50/p99 and error % per service and variant', async () => {
    let stop = false;
    const load = (async () => {
      while (!stop) await httpRequest(`http://127.0.0.1:${ports.ingress}/api/top`).catch(() => undefined);
    })();
    const r = await berthOk(dir, ['top', '--json', '--interval', '1']);
    stop = true;
    await load;
    const rows = JSON.parse(r.stdout) as { service: string; variant: string; rps: number; p50Ms: number | null; p99Ms: number | null; errorPct: number; instances: number }[];
    const api = rows.find((x) => x.service === 'api' && x.variant === 'default');
    assert.ok(api, r.stdout);
    assert.equal(api.instances, 2);
    assert.ok(api.rps > 5, `rps ${api.rps}`);
    assert.ok(api.p50Ms !== null && api.p99Ms !== null && api.p50Ms <= api.p99Ms);
    assert.equal(api.errorPct, 0);
    assert.equal((await berth(dir, ['top', '--interval', 'x'])).code, 2);
  });

  test('control plane killed while traffic flows: no failed request; a new control plane adopts everything', async () => {
    let stop = false;
    let ok = 0;
    const failures: string[] = [];
    const loop = (async () => {
      while (!stop) {
        for (const path of ['/api/x', '/call']) {
          try {
            const r = await httpRequest(`http://127.0.0.1:${ports.ingress}${path}`, 'GET', 3000);
            if (r.status === 200) ok++;
            else failures.push(`${path}: ${r.status} ${r.body}`);
          } catch (err) {
            failures.push(`${path}: ${(err as Error).message}`);
          }
        }
      }
    })();
    await waitFor('traffic', () => ok > 20);
    const before = await ps(dir);
    const cpPid = Number(readFileSync(join(dir, '.berth', 'control.pid'), 'utf8'));
    process.kill(cpPid, 'SIGKILL');
    await waitFor('control plane gone', () => !processAlive(cpPid));
    const during = ok;
    await waitFor('traffic without a control plane', () => ok > during + 40);
    await berthOk(dir, ['up', '-d', '--wait', '--timeout', '30']);
    const again = ok;
    await waitFor('traffic after the restart', () => ok > again + 20);
    stop = true;
    await loop;
    assert.deepEqual(failures, [], failures.slice(0, 5).join('; '));
    const afterRows = await ps(dir);
    assert.deepEqual(afterRows.map((r) => r.pid).sort(), before.map((r) => r.pid).sort(), 'instances adopted, not restarted');
  });

  test('a bad ingress is a validation error with a position', async () => {
    const bad = tempApp({ 'berth.yaml': `app: bad\ningress: { port: 9000, routes: [ { to: nope } ] }\nservices:\n  web: { run: node x.mjs, port: 9001 }\n` });
    const r = await berth(bad, ['validate']);
    assert.equal(r.code, 2);
    assert.match(r.stdout + r.stderr, /berth\.yaml:2:\d+.*unknown service `nope`/s);
  });
});

describe('variants', () => {
  const base = portBlock(5);
  const dir = tempApp({
    'api.mjs': `import http from 'node:http';
http.createServer((req, res) => res.end(JSON.stringify({ variant: process.env.BERTH_VARIANT, version: process.env.VERSION, service: process.env.BERTH_SERVICE })))
  .listen(Number(process.env.PORT), process.env.HOST);`,
    'berth.yaml': `app: variants
ingress: { port: ${base}, routes: [ { to: api } ] }
services:
  api:
    run: node api.mjs
    port: ${base + 1}
    replicas: 2
    env: { VERSION: v1 }
    variants:
      canary: { env: { VERSION: v2 } }
    routes:
      - match: { headers: { x-canary: { exact: "1" } } }
        to: [{ service: api, variant: canary }]
      - to: [{ service: api, variant: default }]
`,
  });
  after(async () => {
    await berth(dir, ['down']);
  });

  test('a variant runs its own replicas; ps --json gains variant; routes pick variants by header', async () => {
    await berthOk(dir, ['up', '-d', '--wait', '--timeout', '30']);
    const rows = await ps(dir);
    assert.deepEqual(rows.map((r) => `${r.service}/${r.variant}`).sort(), ['api.canary/canary', 'api/default', 'api/default']);
    for (let i = 0; i < 6; i++) {
      const plain = JSON.parse((await httpRequest(`http://127.0.0.1:${base}/`)).body) as { variant: string; version: string; service: string };
      assert.deepEqual(plain, { variant: 'default', version: 'v1', service: 'api' });
    }
    const canary = await new Promise<string>((resolve, reject) => {
      const req = http.request(`http://127.0.0.1:${base}/`, { headers: { 'x-canary': '1' }, agent: false }, (res) => {
        let body = '';
        res.on('data', (d: Buffer) => (body += d.toString()));
        res.on('end', () => resolve(body));
      });
      req.on('error', reject);
      req.end();
    });
    assert.deepEqual(JSON.parse(canary), { variant: 'canary', version: 'v2', service: 'api' });
  });

  test('a variant may not change the port', async () => {
    const bad = tempApp({ 'berth.yaml': 'app: bad\nservices:\n  web:\n    run: node x.mjs\n    port: 9001\n    variants:\n      v2: { port: 9002, replicas: -1 }\n' });
    const r = await berth(bad, ['validate']);
    assert.equal(r.code, 2);
    assert.match(r.stdout + r.stderr, /a variant cannot change `port`/);
  });
});
