// The idle rule of `min: 0` counts from the first ready instance: a deployment still starting (just
// applied, slow to get ready) cannot have served a request, so it is not idle; one that never gets
// ready still goes to zero, idleSeconds after that.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { validateSpecText } from '../../../src/contract/index.js';
import { compile, type DesiredService } from '../../../src/plan/index.js';
import { Autoscaling } from '../../../src/control/autoscaling.js';
import { Store, type InstanceRecord } from '../../../src/control/store.js';

const dir = mkdtempSync(join(tmpdir(), 'berth-idle-'));
after(() => rmSync(dir, { recursive: true, force: true }));

function service(): DesiredService {
  const file = join(dir, 'berth.yaml');
  // min 0 needs a port; the instance below lives at an address where no proxy answers, so no activity is seen and the clock decides.
  const yaml = `app: idle
services:
  back:
    run: node back.mjs
    port: 29990
    scale: { min: 0, max: 2, idleSeconds: 0.3, metrics: [{ cpuPercent: 80 }] }
    resources: { cpuMillis: 100 }
`;
  writeFileSync(file, yaml);
  const r = validateSpecText(yaml, file);
  if (!r.ok) throw new Error(JSON.stringify(r.errors));
  return compile(r.spec, { dir, specFile: file }).services[0];
}

function setup() {
  const store = new Store(join(dir, `state-${Math.random()}.db`));
  const rec = { id: 'back-1', service: 'back', node: 'node-1', host: '127.0.0.9' } as InstanceRecord;
  const state = { ready: false };
  const events: string[] = [];
  const scaling = new Autoscaling({
    meta: { get: (k: string) => store.getMeta(k), set: (k: string, v: string) => store.setMeta(k, v) },
    event: (e) => events.push(`${e.reason}: ${e.message}`),
    liveInstances: () => [rec],
    readyInstances: () => (state.ready ? [rec] : []),
    instanceUsage: () => undefined,
    onChange: () => {},
  });
  return { store, state, events, scaling };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

test('a deployment still starting is not idle: the clock starts with its first ready instance', async () => {
  const spec = service();
  const { store, state, events, scaling } = setup();
  await scaling.evaluate(spec, 1);
  await sleep(450); // longer than idleSeconds, but nothing was ready to serve
  await scaling.evaluate(spec, 1);
  assert.deepEqual(events.filter((e) => e.startsWith('ScaledToZero')), [], 'not idle while starting');
  assert.notEqual(scaling.replicasFor('back'), 0);
  state.ready = true;
  await scaling.evaluate(spec, 1);
  await sleep(150);
  await scaling.evaluate(spec, 1);
  assert.notEqual(scaling.replicasFor('back'), 0, 'ready for less than idleSeconds');
  await sleep(250);
  await scaling.evaluate(spec, 1);
  assert.equal(scaling.replicasFor('back'), 0, 'idle for idleSeconds once ready');
  assert.match(events.find((e) => e.startsWith('ScaledToZero')) ?? '', /back 1 → 0/);
  store.close();
});

test('a deployment that never gets ready still goes to zero, idleSeconds after it would have', async () => {
  const spec = service();
  const { store, scaling } = setup();
  await scaling.evaluate(spec, 1);
  await sleep(350);
  await scaling.evaluate(spec, 1);
  assert.notEqual(scaling.replicasFor('back'), 0);
  await sleep(350);
  await scaling.evaluate(spec, 1);
  assert.equal(scaling.replicasFor('back'), 0);
  store.close();
});
