// The example application under the real runtime: comes up ready, heals from crashes, liveness
// failures and memory overruns, survives a control-plane kill -9 (instances adopted, not restarted),
// and `berth down` leaves no process behind. Real processes, real sockets.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { berth, berthOk, copyShop, events, httpRequest, processAlive, ps, waitFor, type PsRow } from './harness/berth.js';

describe('examples/shop on the local runtime', () => {
  const shop = copyShop();
  const cwd = shop.dir;
  const allReady = async (n = 4) => {
    const rows = await ps(cwd);
    return rows.length === n && rows.every((r) => r.ready) ? rows : undefined;
  };
  const one = async (service: string): Promise<PsRow> => (await ps(cwd)).find((r) => r.service === service)!;

  before(async () => {
    const r = await berth(cwd, ['up', '-d', '--wait', '--timeout', '60']);
    assert.equal(r.code, 0, `berth up failed: ${r.stdout}\n${r.stderr}`);
    assert.match(r.stdout, new RegExp(`http://127\\.0\\.0\\.1:${shop.web}/`), 'up prints where to reach the app');
  });

  after(async () => {
    await berth(cwd, ['down']);
  });

  test('every instance is ready, on its own loopback address, and the service chain answers', async () => {
    const rows = await ps(cwd);
    assert.equal(rows.length, 4);
    for (const r of rows) {
      assert.equal(r.status, 'ready');
      assert.equal(r.ready, true);
      assert.match(r.host, /^127\.1\.\d+\.\d+$/);
      assert.equal(r.node, 'node-1');
      assert.ok(r.pid && processAlive(r.pid));
      for (const k of ['service', 'instance', 'revision', 'restarts', 'port', 'startedAt']) assert.ok(k in r, `ps --json has ${k}`);
    }
    assert.equal(new Set(rows.map((r) => r.host)).size, 4, 'distinct instance addresses');
    const page = await httpRequest(`http://127.0.0.1:${shop.web}/`);
    assert.equal(page.status, 200);
    assert.match(page.body, /Welcome to the Berth shop/);
    assert.match(page.body, /mug/, 'stock came from inventory through orders');
    const buy = await httpRequest(`http://127.0.0.1:${shop.web}/buy?sku=mug&qty=1`, 'POST');
    assert.equal(buy.status, 201);
  });

  test('dependsOn: orders starts only after inventory is ready, web only after orders is ready', async () => {
    const evs = await events(cwd);
    const first = (reason: string, service: string) => evs.find((e) => e.reason === reason && e.instance?.startsWith(`${service}-`));
    const invReady = first('Ready', 'inventory');
    const ordersStarted = first('Started', 'orders');
    const ordersReady = first('Ready', 'orders');
    const webStarted = first('Started', 'web');
    assert.ok(invReady && ordersStarted && ordersReady && webStarted, 'events present');
    assert.ok(invReady.seq < ordersStarted.seq, 'inventory Ready before orders Started');
    assert.ok(ordersReady.seq < webStarted.seq, 'orders Ready before web Started');
  });

  test('kill -9 of an app: restarted and ready again, restart counted, instance ID kept', async () => {
    const before = await one('inventory');
    process.kill(before.pid!, 'SIGKILL');
    const afterKill = await waitFor('inventory restarted and ready', async () => {
      const r = await one('inventory');
      return r.pid !== before.pid && r.ready ? r : undefined;
    });
    assert.equal(afterKill.instance, before.instance);
    assert.equal(afterKill.restarts, before.restarts + 1);
  });

  test('liveness failure restarts the app', async () => {
    const before = await one('orders');
    const r = await httpRequest(`http://${before.host}:${before.port}/admin/break-liveness`, 'POST');
    assert.ok(r.status < 300);
    const healed = await waitFor('orders restarted after liveness failure', async () => {
      const x = await one('orders');
      return x.restarts > before.restarts && x.ready ? x : undefined;
    }, 20_000);
    assert.notEqual(healed.pid, before.pid);
    const evs = await events(cwd);
    assert.ok(evs.some((e) => e.reason === 'Unhealthy' && e.instance === before.instance), 'Unhealthy event');
  });

  test('a user sidecar crash restarts the sidecar alone; the app keeps its PID', async () => {
    const before = await one('orders');
    const audit = before.sidecars.find((s) => s.name === 'audit');
    assert.ok(audit?.pid, 'orders has its audit sidecar');
    process.kill(audit.pid, 'SIGKILL');
    const afterCrash = await waitFor('audit sidecar restarted', async () => {
      const x = await one('orders');
      const s = x.sidecars.find((y) => y.name === 'audit');
      return s?.pid && s.pid !== audit.pid && s.state === 'running' ? x : undefined;
    });
    assert.equal(afterCrash.pid, before.pid, 'app PID unchanged');
    assert.equal(afterCrash.restarts, before.restarts, 'app not restarted');
  });

  test('exceeding resources.memoryMiB kills the app with OOMKilled, and it is restarted', async () => {
    const webs = (await ps(cwd)).filter((r) => r.service === 'web');
    const victim = webs[0];
    // web's limit is 256 MiB; hold 400 MiB.
    await httpRequest(`http://${victim.host}:${victim.port}/admin/leak?mb=400`, 'POST', 20_000).catch(() => undefined);
    await waitFor('OOMKilled event', async () => (await events(cwd)).some((e) => e.reason === 'OOMKilled' && e.instance === victim.instance), 20_000);
    const healed = await waitFor('web restarted after OOM', async () => {
      const x = (await ps(cwd)).find((r) => r.instance === victim.instance);
      return x && x.ready && x.pid !== victim.pid ? x : undefined;
    });
    assert.equal(healed.restarts, victim.restarts + 1);
  });

  test('control plane kill -9: node agent keeps supervising; `berth up` adopts the same PIDs', async () => {
    const rows = await waitFor('all ready', () => allReady());
    const cpPid = Number(readFileSync(join(cwd, '.berth', 'control.pid'), 'utf8'));
    process.kill(cpPid, 'SIGKILL');
    await waitFor('control plane gone', () => !processAlive(cpPid));
    // While it is down, an app dies: its node agent restarts it on its own.
    const victim = rows.find((r) => r.service === 'inventory')!;
    process.kill(victim.pid!, 'SIGKILL');
    const page = await waitFor('inventory answering again without the control plane', async () => {
      const r = await httpRequest(`http://${victim.host}:${victim.port}/ready`).catch(() => undefined);
      return r?.status === 200 ? r : undefined;
    });
    assert.equal(page.status, 200);
    assert.equal((await berth(cwd, ['ps', '--json'])).code, 1, 'ps reports the control plane as not running');
    await berthOk(cwd, ['up', '-d', '--wait', '--timeout', '30']);
    const after = await waitFor('all ready after re-adoption', () => allReady());
    for (const r of rows) {
      const a = after.find((x) => x.instance === r.instance);
      assert.ok(a, `instance ${r.instance} kept`);
      assert.equal(a.revision, r.revision, 'no revision change');
      if (r.instance !== victim.instance) assert.equal(a.pid, r.pid, `${r.instance} not restarted`);
    }
    const restarted = after.find((x) => x.instance === victim.instance)!;
    assert.notEqual(restarted.pid, victim.pid);
    assert.equal(restarted.restarts, victim.restarts + 1);
    const evs = await events(cwd);
    assert.ok(evs.some((e) => e.reason === 'Adopted'), 'Adopted events written');
  });

  test('berth logs merges instances with a prefix; --tail and --json work', async () => {
    const r = await berthOk(cwd, ['logs', 'web', '--tail', '5']);
    const lines = r.stdout.trim().split('\n');
    assert.equal(lines.length, 5);
    for (const l of lines) assert.match(l, /^web-[a-z0-9]+-[a-z0-9]+ \| /);
    const j = await berthOk(cwd, ['logs', 'inventory', '--json', '--since', '10m']);
    const recs = j.stdout.trim().split('\n').map((l) => JSON.parse(l) as { time: string; instance: string; message: string });
    assert.ok(recs.length > 0);
    for (let i = 1; i < recs.length; i++) assert.ok(recs[i - 1].time <= recs[i].time, 'time order');
    assert.ok(recs.some((x) => /listening/.test(x.message)));
  });

  test('berth exec runs a command with the instance environment', async () => {
    const r = await berthOk(cwd, ['exec', 'web', '--', 'sh', '-c', 'echo $BERTH_SERVICE $BERTH_ORDERS_URL $HOST']);
    // Through the mesh: the used service is reached via the instance's own sidecar, on its own address.
    assert.match(r.stdout, /^web http:\/\/(127\.1\.\d+\.\d+):150\d\d \1\n/);
    const code = await berth(cwd, ['exec', 'web', '--', 'sh', '-c', 'exit 7']);
    assert.equal(code.code, 7);
  });

  test('berth down stops everything: no process of the app is left', async () => {
    const rows = await ps(cwd);
    const pids = rows.flatMap((r) => [r.pid, ...r.sidecars.map((s) => s.pid)]).filter((p): p is number => !!p);
    const cp = Number(readFileSync(join(cwd, '.berth', 'control.pid'), 'utf8'));
    const agent = (JSON.parse(readFileSync(join(cwd, '.berth', 'nodes', 'node-1', 'agent.json'), 'utf8')) as { pid: number }).pid;
    await berthOk(cwd, ['down']);
    for (const p of [...pids, cp, agent]) assert.equal(processAlive(p), false, `pid ${p} still alive after down`);
    assert.equal(existsSync(join(cwd, '.berth', 'control.json')), false);
    await assert.rejects(httpRequest(`http://127.0.0.1:${shop.web}/`, 'GET', 1000));
  });
});
