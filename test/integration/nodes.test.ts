// Simulated nodes: instances spread over node agents; cordon, drain (replacements first, no failed
// request), node kill (lost → fenced → replaced elsewhere), pending with a reason when nothing fits,
// and `berth node add`. Real node-agent processes, one per node.
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { berth, berthOk, events, httpRequest, portBlock, processAlive, ps, tempApp, waitFor } from './harness/berth.js';

const appJs = `
import http from 'node:http';
const server = http.createServer((req, res) => { res.setHeader('connection', 'close'); res.end(process.env.BERTH_NODE); });
server.listen(Number(process.env.PORT), process.env.HOST);
process.on('SIGTERM', () => { server.close(() => process.exit(0)); server.closeIdleConnections(); });
`;

interface NodeRow {
  name: string;
  status: string;
  cordoned: boolean;
  draining: boolean;
  instances: number;
  agentPid: number | null;
}

describe('simulated nodes', () => {
  const port = portBlock();
  const dir = tempApp({
    'app.mjs': appJs,
    'berth.yaml': `app: nodes
nodes: 3
services:
  api:
    run: node app.mjs
    port: ${port}
    replicas: 3
    probes:
      readiness: { http: { path: /ready }, periodSeconds: 0.2 }
  picky:
    run: node app.mjs
    port: ${port + 1}
    placement: { nodeSelector: { disk: ssd } }
`,
  });
  const nodes = async () => JSON.parse((await berthOk(dir, ['node', 'ls', '--json'])).stdout) as NodeRow[];
  const apiRows = async () => (await ps(dir)).filter((r) => r.service === 'api');
  after(() => berth(dir, ['down']));

  test('instances spread one per node; a service that fits nowhere is pending with the reason', async () => {
    await berthOk(dir, ['up', '-d']);
    const rows = await waitFor('3 api instances ready', async () => {
      const r = await apiRows();
      return r.length === 3 && r.every((x) => x.ready) ? r : undefined;
    });
    assert.deepEqual(rows.map((r) => r.node).sort(), ['node-1', 'node-2', 'node-3']);
    for (const r of rows) assert.match(r.host, new RegExp(`^127\\.${r.node.slice(5)}\\.`), 'address block of its node');
    const ls = await nodes();
    assert.deepEqual(ls.map((n) => [n.name, n.status]), [['node-1', 'Ready'], ['node-2', 'Ready'], ['node-3', 'Ready']]);
    const picky = (await ps(dir)).find((r) => r.service === 'picky');
    assert.equal(picky?.status, 'pending');
    assert.match((picky as { message?: string }).message ?? '', /0\/3 nodes are available: 3 didn't match the nodeSelector/);
  });

  test('cordon: new instances avoid the node; uncordon makes it schedulable again', async () => {
    await berthOk(dir, ['node', 'cordon', 'node-3']);
    await berthOk(dir, ['scale', 'api=5']);
    const rows = await waitFor('5 api ready', async () => {
      const r = await apiRows();
      return r.length === 5 && r.every((x) => x.ready) ? r : undefined;
    });
    assert.equal(rows.filter((r) => r.node === 'node-3').length, 1, 'only the instance that was already there');
    assert.ok((await nodes()).find((n) => n.name === 'node-3')?.cordoned);
    await berthOk(dir, ['node', 'uncordon', 'node-3']);
    await berthOk(dir, ['scale', 'api=3']);
    await waitFor('3 api', async () => (await apiRows()).length === 3);
  });

  test('drain under load: replacements ready elsewhere first, 0 failed requests', async () => {
    await waitFor('api ready', async () => (await apiRows()).every((r) => r.ready));
    let stop = false;
    let ok = 0;
    const failures: string[] = [];
    const loop = (async () => {
      while (!stop) {
        try {
          const r = await httpRequest(`http://127.0.0.1:${port}/`, 'GET', 3000);
          if (r.status === 200) ok++;
          else failures.push(`status ${r.status}`);
        } catch (err) {
          failures.push((err as Error).message);
          if (failures.length > 1000) stop = true; // bounded: a broken address must not spin forever
        }
      }
    })();
    try {
      await waitFor('traffic', () => ok > 10);
    } catch (err) {
      stop = true;
      await loop;
      throw new Error(`${(err as Error).message}; failures: ${failures.slice(0, 3).join('; ')}`);
    }
    const onNode2 = (await apiRows()).filter((r) => r.node === 'node-2');
    await berthOk(dir, ['node', 'drain', 'node-2', '--timeout', '60']);
    const rows = await waitFor('3 api ready off node-2', async () => {
      const r = await apiRows();
      return r.length === 3 && r.every((x) => x.ready && x.node !== 'node-2') ? r : undefined;
    });
    const okBefore = ok;
    await waitFor('more traffic', () => ok > okBefore + 10);
    stop = true;
    await loop;
    assert.deepEqual(failures, [], `failed requests during the drain: ${failures.slice(0, 5).join('; ')}`);
    assert.equal(rows.length, 3);
    for (const r of onNode2) assert.equal(processAlive(r.pid!), false);
    assert.ok((await nodes()).find((n) => n.name === 'node-2')?.draining);
    await berthOk(dir, ['node', 'uncordon', 'node-2']);
  });

  test('node kill: the node is lost after its grace period, fenced, and its instances run elsewhere', async () => {
    const victimNode = (await apiRows()).find((r) => r.node !== 'node-1')!.node;
    const victims = (await apiRows()).filter((r) => r.node === victimNode);
    const t = performance.now();
    await berthOk(dir, ['node', 'kill', victimNode]);
    const rows = await waitFor('replacements ready', async () => {
      const r = await apiRows();
      return r.length === 3 && r.every((x) => x.ready) && !r.some((x) => victims.some((v) => v.instance === x.instance)) ? r : undefined;
    }, 30_000);
    const ms = performance.now() - t;
    assert.ok(ms < 15_000, `replaced in ${Math.round(ms)} ms`);
    for (const v of victims) assert.equal(processAlive(v.pid!), false, 'fenced');
    assert.equal(rows.length, 3);
    const evs = await events(dir);
    assert.ok(evs.some((e) => e.reason === 'NodeLost' && e.message.includes(victimNode)));
    assert.ok(evs.some((e) => e.reason === 'Evicted'));
    await waitFor('the node rejoins', async () => (await nodes()).find((n) => n.name === victimNode)?.status === 'Ready');
  });

  test('control plane kill -9 and restart: nodes and instances are adopted, nothing restarted', async () => {
    const before = await ps(dir);
    const { readFileSync } = await import('node:fs');
    const cp = Number(readFileSync(`${dir}/.berth/control.pid`, 'utf8'));
    process.kill(cp, 'SIGKILL');
    await waitFor('control plane gone', () => !processAlive(cp));
    await berthOk(dir, ['up', '-d']);
    const after = await waitFor('same instances, same PIDs', async () => {
      const rows = await ps(dir);
      return rows.length === before.length && rows.every((r) => before.some((b) => b.instance === r.instance && b.pid === r.pid && b.node === r.node)) ? rows : undefined;
    });
    assert.equal(after.length, before.length);
    assert.ok((await nodes()).every((n) => n.status === 'Ready'));
  });

  test('node add: a fourth node joins and is schedulable', async () => {
    const r = await berthOk(dir, ['node', 'add', '--label', 'disk=ssd', '--json']);
    const { name } = JSON.parse(r.stdout) as { name: string };
    assert.equal(name, 'node-4');
    await waitFor('node-4 ready', async () => (await nodes()).find((n) => n.name === 'node-4')?.status === 'Ready');
    // picky was pending for want of a disk=ssd node: now it fits there.
    const picky = await waitFor('picky scheduled on node-4', async () => {
      const p = (await ps(dir)).find((x) => x.service === 'picky');
      return p?.node === 'node-4' && p.ready ? p : undefined;
    });
    assert.equal(picky.node, 'node-4');
    assert.equal((await berth(dir, ['node', 'cordon', 'nope'])).code, 2, 'unknown node is a usage error');
  });
});
