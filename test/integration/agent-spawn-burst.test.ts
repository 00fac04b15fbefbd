// Regression: a desired set of many instances must not block the node agent. spawn() is synchronous;
// 45 spawns in one go kept the agent's event loop busy for over 5 s on a loaded two-core machine,
// its heartbeats stopped, the control plane's ping went unanswered and the node was fenced as lost
// (the private-port test's 15 instances on CI). The agent now paces spawns, one per loop turn: its API
// answers during the burst within a fraction of the burst's length.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { desired, instanceSpec, startTestAgent, waitFor, type TestAgent } from './node-helpers/harness.js';

const INSTANCES = 30; // an app and a sidecar each: 60 spawns

let agent: TestAgent | undefined;
after(async () => {
  await agent?.cleanup();
});

test('the agent answers its API while it spawns a burst of 60 processes', { timeout: 120_000 }, async () => {
  agent = await startTestAgent();
  const a = agent;
  const specs = Array.from({ length: INSTANCES }, (_, i) => {
    const s = instanceSpec({ id: `burst-${i}`, host: `127.78.1.${i + 2}`, port: 40000, script: a.script('app'), logDir: join(a.dir, 'logs', `burst-${i}`) });
    const { port: _unused, ...noPort } = s; // no PORT to allocate and no listener: only the spawns are measured
    return { ...noPort, main: { ...s.main, argv: ['/bin/sleep', '120'] }, sidecars: [{ ...s.main, name: 'side', argv: ['/bin/sleep', '120'] }] };
  });

  // Probe the API every 10 ms while the burst runs; each probe's latency is how long the loop was busy.
  let probing = true;
  let maxLatency = 0;
  const prober = (async () => {
    while (probing) {
      const t = performance.now();
      await a.request('GET', '/healthz');
      maxLatency = Math.max(maxLatency, performance.now() - t);
      await new Promise((r) => setTimeout(r, 10));
    }
  })();
  await new Promise((r) => setTimeout(r, 100)); // the prober's first requests set up its connection
  maxLatency = 0;
  const t0 = performance.now();
  await a.put(desired(1, specs));
  await waitFor(async () => (await a.instances()).filter((i) => i.main.state === 'running' && i.sidecars.every((s) => s.state === 'running')).length === INSTANCES, 90_000, 'every process running');
  const burstMs = performance.now() - t0;
  probing = false;
  await prober;
  assert.ok(maxLatency < burstMs / 3, `the API waited ${maxLatency.toFixed(0)} ms during a ${burstMs.toFixed(0)} ms burst of ${INSTANCES * 2} spawns`);
});
