// Automatic migration on node pressure: a node whose measured CPU stays above the threshold of its
// capacity for the window moves an instance away — the replacement starts on another node first,
// then the old instance stops. Threshold and window are parameters so CI runs this short.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { berth, events, ps, tempApp, waitFor } from './harness/berth.js';

const burner = `
import { existsSync } from 'node:fs';
setInterval(() => {
  if (!existsSync('burn')) return;
  // Busy 90 % of the time: even on a loaded CI machine its share stays well over the threshold.
  const end = performance.now() + 90;
  while (performance.now() < end) {}
}, 100);
`;

test('a node over its CPU threshold for the window moves its instance to another node', async () => {
  const dir = tempApp({
    'app.mjs': burner,
    'berth.yaml': `app: pressure
nodes:
  - { name: hot, capacity: { cpuMillis: 300 } }
  - { name: cool }
services:
  burner:
    run: node app.mjs
`,
  });
  const env = { BERTH_PRESSURE_THRESHOLD: '0.3', BERTH_PRESSURE_WINDOW_MS: '2000' };
  const run = async (args: string[]) => {
    const r = await berth(dir, args, { env });
    assert.equal(r.code, 0, `${args.join(' ')}: ${r.stdout}${r.stderr}`);
    return r;
  };
  after(() => berth(dir, ['down']));
  // Put the instance on `hot`: start with `cool` cordoned (a fresh app's first node records come from the spec).
  await run(['up', '-d', '--wait', '--timeout', '30']);
  let row = (await ps(dir))[0];
  if (row.node !== 'hot') {
    await run(['node', 'cordon', 'cool']);
    await run(['node', 'drain', 'cool', '--timeout', '30']);
    await run(['node', 'uncordon', 'cool']);
    row = await waitFor('instance on hot', async () => {
      const r = (await ps(dir))[0];
      return r?.node === 'hot' && r.ready ? r : undefined;
    });
  }
  writeFileSync(join(dir, 'burn'), '');
  const moved = await waitFor('the instance moved to cool', async () => {
    const rows = await ps(dir);
    return rows.length === 1 && rows[0].node === 'cool' && rows[0].ready ? rows[0] : undefined;
  }, 40_000);
  assert.notEqual(moved.instance, row.instance);
  const evs = await events(dir);
  assert.ok(evs.some((e) => e.reason === 'NodePressure' && e.node === 'hot'), 'NodePressure event');
  const migrating = evs.find((e) => e.reason === 'Migrating' && e.instance === row.instance);
  assert.ok(migrating, 'Migrating event for the moved instance');
  // The replacement was ready before the old instance was stopped (no gap in availability). Read from the
  // times the two agents stamped (one machine, one clock), not from `seq`: that is the order in which the
  // control plane pulled the two nodes' events, and a CI run saw cool's Ready pulled after hot's Killing.
  const readyNew = evs.find((e) => e.reason === 'Ready' && e.instance === moved.instance);
  const killOld = evs.find((e) => e.reason === 'Killing' && e.instance === row.instance);
  assert.ok(readyNew && killOld, 'Ready of the replacement and Killing of the old instance');
  assert.ok(Date.parse(readyNew.at) <= Date.parse(killOld.at), `replacement ready (${readyNew.at}) before the old one stopped (${killOld.at})`);
});
