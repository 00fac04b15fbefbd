// `berth stats` (issue 19 point 7): live CPU % and memory per instance and per sidecar. A busy app
// (~half a core) and an idle one run side by side; their rows tell them apart, and every sidecar
// (the log agent, the mesh proxy) has a row of its own with the memory its process holds.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { berth, berthOk, portBlock, tempApp, waitFor } from './harness/berth.js';
import type { StatsRow } from '../../src/control/index.js';

test('berth stats: per-instance app CPU and memory, and a row per sidecar', { timeout: 120_000 }, async () => {
  const port = portBlock(2);
  const dir = tempApp({
    // Busy about half of each 100 ms, so the figure is well above an idle app's (5 % at least even on a machine loaded 8-fold).
    'busy.mjs': `import http from 'node:http';
setInterval(() => { const end = Date.now() + 50; while (Date.now() < end); }, 100);
http.createServer((q, s) => s.end('ok')).listen(Number(process.env.PORT), process.env.HOST);`,
    'idle.mjs': `import http from 'node:http';
http.createServer((q, s) => s.end('ok')).listen(Number(process.env.PORT), process.env.HOST);`,
    'berth.yaml': `app: stats
services:
  busy:
    run: node busy.mjs
    port: ${port}
  idle:
    run: node idle.mjs
    port: ${port + 1}
`,
  });
  after(() => berth(dir, ['down']));
  await berthOk(dir, ['up', '-d', '--wait', '--timeout', '60']);

  let last: StatsRow[] = [];
  const rows = await waitFor('measured rows for both apps', async () => {
    const r = (last = JSON.parse((await berthOk(dir, ['stats', '--json'])).stdout) as StatsRow[]);
    const apps = r.filter((x) => x.process === 'app');
    const cpu = (service: string) => apps.find((x) => x.service === service)?.cpuPercent ?? null;
    // One reading covers about a second: a just-started idle app can still be in node's start-up (CI measured
    // idle 10.8 % vs busy 8.9 % in the first one on a loaded host), so the rows must tell them apart in some reading.
    const busy = cpu('busy');
    const idle = cpu('idle');
    return apps.length === 2 && apps.every((x) => x.memoryMiB !== null) && busy !== null && idle !== null && busy >= 5 && idle < busy ? r : undefined;
  }, 30_000, 500).catch((err: Error) => {
    throw new Error(`${err.message}: ${JSON.stringify(last)}`);
  });
  const busy = rows.find((x) => x.service === 'busy' && x.process === 'app')!;
  const idle = rows.find((x) => x.service === 'idle' && x.process === 'app')!;
  assert.ok(idle.cpuPercent! < busy.cpuPercent!, `idle ${idle.cpuPercent}% < busy ${busy.cpuPercent}%`);
  assert.ok(busy.memoryMiB! > 10 && busy.memoryMiB! < 500, `node's RSS: ${busy.memoryMiB} MiB`);
  assert.ok(busy.pid !== null && busy.instance.startsWith('busy-') && busy.node === 'node-1');
  // Each instance has its sidecars' rows, each with a pid and the memory of that process alone.
  for (const inst of [busy.instance, idle.instance]) {
    const sidecars = rows.filter((x) => x.instance === inst && x.process !== 'app');
    assert.ok(sidecars.some((x) => x.process === 'logs'), `${inst}: ${JSON.stringify(sidecars)}`);
    for (const s of sidecars) assert.ok(s.pid !== null && s.pid !== busy.pid && (s.memoryMiB ?? 0) > 5, JSON.stringify(s));
  }

  // Without a terminal: one table, then exit.
  const table = await berthOk(dir, ['stats']);
  assert.match(table.stdout, /^INSTANCE\s+PROCESS\s+SERVICE\s+NODE\s+PID\s+CPU %\s+MEM/);
  assert.match(table.stdout, new RegExp(`${busy.instance}\\s+app\\s+busy\\s+node-1\\s+\\d+\\s+[\\d.]+%\\s+[\\d.]+ MiB`));
  assert.equal((await berth(dir, ['stats', '--interval', '0'])).code, 2);
});
