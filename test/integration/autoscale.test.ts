// The autoscaler on real processes: a service burning CPU above its cpuPercent target scales out
// (HPA algorithm, evaluated every second), and back in once the load stops and the scale-down
// stabilization window has passed; `berth ps` says why.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { berth, berthOk, events, httpRequest, portBlock, ps, tempApp, waitFor } from './harness/berth.js';

// Burns ~30 % of a core while ./burn exists (a duty cycle, so the machine stays usable).
const appJs = `
import { existsSync } from 'node:fs';
setInterval(() => {
  if (!existsSync('burn')) return;
  const end = performance.now() + 30;
  while (performance.now() < end) {}
}, 100);
`;

test('cpuPercent: scale out under CPU load, back in after the scale-down window', async () => {
  const dir = tempApp({
    'app.mjs': appJs,
    'berth.yaml': `app: autoscale
services:
  worker:
    run: node app.mjs
    resources: { cpuMillis: 100 }
    scale:
      min: 1
      max: 3
      metrics: [{ cpuPercent: 100 }]
      behavior:
        scaleDown: { stabilizationSeconds: 2, maxStepPercent: 100 }
`,
  });
  after(() => berth(dir, ['down']));
  await berthOk(dir, ['up', '-d', '--wait', '--timeout', '30']);
  assert.equal((await ps(dir)).length, 1);

  writeFileSync(join(dir, 'burn'), '');
  const out = await waitFor('scaled out to 3', async () => {
    const rows = await ps(dir);
    return rows.length === 3 && rows.every((r) => r.ready) ? rows : undefined;
  }, 30_000);
  assert.equal(out.length, 3);
  const scaled = (await events(dir)).filter((e) => e.reason === 'Scaled' && e.message.startsWith('autoscaler: worker 1 →'));
  assert.ok(scaled.length > 0, 'a Scaled event with the reason');
  assert.match(scaled[0].message, /cpuPercent \d+/);
  const human = await berthOk(dir, ['ps']);
  assert.match(human.stdout, /worker: \d+ ready, \d+ → \d+ replicas \(autoscaler: cpuPercent/);

  rmSync(join(dir, 'burn'));
  await waitFor('scaled back in to 1', async () => (await ps(dir)).length === 1, 30_000);
});

test('rps: requests through the mesh above the per-instance target scale out; quiet scales back in', async () => {
  const port = portBlock();
  const dir = tempApp({
    'app.mjs': `import http from 'node:http';
const server = http.createServer((q, s) => s.end('ok'));
server.listen(Number(process.env.PORT), process.env.HOST);
process.on('SIGTERM', () => server.close(() => process.exit(0)));`,
    'berth.yaml': `app: autoscale-rps
services:
  api:
    run: node app.mjs
    port: ${port}
    probes:
      readiness: { tcp: {}, periodSeconds: 0.5 }
    scale:
      min: 1
      max: 3
      metrics: [{ rps: 5 }]
      behavior:
        scaleDown: { stabilizationSeconds: 2, maxStepPercent: 100 }
`,
  });
  after(() => berth(dir, ['down']));
  await berthOk(dir, ['up', '-d', '--wait', '--timeout', '30']);
  let stop = false;
  let sent = 0;
  // ~40 req/s for a while: 8 × the target of one instance.
  const load = (async () => {
    while (!stop) {
      await httpRequest(`http://127.0.0.1:${port}/`, 'GET', 2000).catch(() => undefined);
      sent++;
      await new Promise((r) => setTimeout(r, 25));
    }
  })();
  try {
    await waitFor('scaled out by rps', async () => (await ps(dir)).filter((r) => r.ready).length >= 2, 30_000);
  } finally {
    stop = true;
    await load;
  }
  assert.ok(sent > 0);
  const scaled = (await events(dir)).find((e) => e.reason === 'Scaled' && /rps [\d.]+\/5 per instance/.test(e.message));
  assert.ok(scaled, 'Scaled event naming the rps reading');
  await waitFor('back to 1 when quiet', async () => (await ps(dir)).length === 1, 30_000);
});

/** An HTTP app whose every answer takes `delayMs` (so in-flight requests and latency are what the load makes them). */
const slowApp = (delayMs: number) => `import http from 'node:http';
const server = http.createServer((q, s) => setTimeout(() => s.end('ok'), ${delayMs}));
server.listen(Number(process.env.PORT), process.env.HOST);
process.on('SIGTERM', () => server.close(() => process.exit(0)));`;

/** `workers` loops sending requests one after another through the gateway until stopped (bounded by the test's wait). */
function closedLoopLoad(url: string, workers: number): { stop: () => Promise<number> } {
  let stop = false;
  let sent = 0;
  const loops = Array.from({ length: workers }, async () => {
    while (!stop) {
      await httpRequest(url, 'GET', 5000).catch(() => new Promise((r) => setTimeout(r, 50)));
      sent++;
    }
  });
  return {
    stop: async () => {
      stop = true;
      await Promise.all(loops);
      return sent;
    },
  };
}

/**
 * A service whose answers take `delayMs`, autoscaled on one metric (max 2), under `workers` closed-loop
 * clients through the gateway: waits for the second instance and returns the autoscaler's reading
 * of `metric` in its Scaled event.
 */
async function scaleOutUnderLoad(o: { app: string; delayMs: number; metric: string; target: number; workers: number }): Promise<number> {
  const port = portBlock();
  const dir = tempApp({
    'app.mjs': slowApp(o.delayMs),
    'berth.yaml': `app: ${o.app}
services:
  api:
    run: node app.mjs
    port: ${port}
    probes:
      readiness: { tcp: {}, periodSeconds: 0.5 }
    scale:
      min: 1
      max: 2
      metrics: [{ ${o.metric}: ${o.target} }]
`,
  });
  after(() => berth(dir, ['down']));
  await berthOk(dir, ['up', '-d', '--wait', '--timeout', '30']);
  const load = closedLoopLoad(`http://127.0.0.1:${port}/`, o.workers);
  try {
    await waitFor(`scaled out by ${o.metric}`, async () => (await ps(dir)).filter((r) => r.ready).length === 2, 30_000);
  } finally {
    assert.ok((await load.stop()) > 0);
  }
  const scaled = (await events(dir)).find((e) => e.reason === 'Scaled' && e.message.startsWith('autoscaler: api 1 → 2'));
  assert.ok(scaled, 'a Scaled event');
  const reading = new RegExp(`${o.metric} ([\\d.]+)/${o.target}`).exec(scaled.message);
  assert.ok(reading, scaled.message);
  return Number(reading[1]);
}

test('concurrency: requests in flight above the per-instance target scale out', async () => {
  // 6 clients, each always waiting on a 200 ms answer: about 6 in flight at one instance, 3 × the target.
  const measured = await scaleOutUnderLoad({ app: 'autoscale-concurrency', delayMs: 200, metric: 'concurrency', target: 2, workers: 6 });
  assert.ok(measured > 2.2, `measured concurrency above the target's tolerance: ${measured}`);
});

test('p99Ms: a service answering slower than its p99 target scales out', async () => {
  // Every answer takes ≥ 120 ms, so the measured p99 (histogram buckets, interpolated) is in 100–250 ms.
  const measured = await scaleOutUnderLoad({ app: 'autoscale-p99', delayMs: 120, metric: 'p99Ms', target: 50, workers: 2 });
  assert.ok(measured >= 100 && measured <= 250, `measured p99 ${measured} ms`);
});

test('memoryPercent: instances using more than the target share of resources.memoryMiB scale out', async () => {
  const dir = tempApp({
    // Holds ~60 MiB of touched memory: above 30 % of 128 MiB on its own.
    'app.mjs': `const hold = Buffer.alloc(60 * 1024 * 1024, 1);
setInterval(() => hold[0]++, 1000);`,
    'berth.yaml': `app: autoscale-memory
services:
  worker:
    run: node app.mjs
    resources: { memoryMiB: 128 }
    scale:
      min: 1
      max: 2
      metrics: [{ memoryPercent: 30 }]
`,
  });
  after(() => berth(dir, ['down']));
  await berthOk(dir, ['up', '-d', '--wait', '--timeout', '30']);
  await waitFor('scaled out by memory', async () => (await ps(dir)).filter((r) => r.ready).length === 2, 30_000);
  const scaled = (await events(dir)).find((e) => e.reason === 'Scaled' && e.message.startsWith('autoscaler: worker 1 → 2'));
  assert.ok(scaled, 'a Scaled event');
  assert.match(scaled.message, /memoryPercent \d+(\.\d+)?\/30 per instance/);
});
