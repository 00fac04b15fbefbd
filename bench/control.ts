// bench/control: the control plane's own cost. One JSON line:
// - reconcilePassMs: one pass of every controller (10 deployments, 10 nodes, lifecycle, pressure)
//   over 500 running instances, in-process, with a write before each pass so every node's desired
//   set is rebuilt and pushed (goal ≤ 20 ms); median of 20 passes. reconcilePassSteadyMs: the same
//   with nothing changed (the node controller then skips the unchanged sets, as on a resync);
// - applyToScheduledMs: a one-field change to one deployment with 500 running → its first new
//   instance created, bound, dispatched and pushed to its node (goal ≤ 200 ms). In-process with fake
//   node clients, on a file-backed store (the write of the new desired state included);
// - idleCpuPercent: the control-plane process's CPU over 20 s with 50 real instances running (goal
//   ≤ 2 %), measured with real processes (`berth up`); BENCH_IDLE=0 leaves it out.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { reconcileDeployment } from '../src/control/controllers/deployment.js';
import { reconcileLifecycle } from '../src/control/controllers/lifecycle.js';
import { NodeController } from '../src/control/controllers/node.js';
import { PressureController } from '../src/control/controllers/pressure.js';
import { Store } from '../src/control/store.js';
import { stateLayout } from '../src/lib/state-dir.js';
import { desiredState, makeWorld, observeAll, service, type TestWorld } from '../test/helpers/control-world.js';
import { berth, berthOk, portBlock, ps, tempApp, waitFor } from '../test/integration/harness/berth.js';

export interface ControlBenchResult {
  bench: 'control';
  date: string;
  cores: number;
  instances: number;
  nodes: number;
  reconcilePassMs: number;
  reconcilePassMaxMs: number;
  reconcilePassSteadyMs: number;
  reconcilePassGoalMs: 20;
  applyToScheduledMs: number;
  applyToScheduledGoalMs: 200;
  applyMode: 'in-process, fake node clients, file-backed store';
  idleCpuPercent: number | null;
  idleCpuInstances: number | null;
  idleCpuGoalPercent: 2;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

async function onePass(t: TestWorld, nodes: NodeController, pressure: PressureController): Promise<void> {
  for (const s of t.world.desired!.services) await reconcileDeployment(s.name, t.world, t.act);
  for (const n of t.world.nodes()) await nodes.reconcile(n.name, t.world, t.act);
  await reconcileLifecycle('all', t.world, t.act);
  await pressure.reconcile('all', t.world, t.act);
}

export async function runInProcess(instances = 500, nodeCount = 10, services = 10): Promise<Pick<ControlBenchResult, 'reconcilePassMs' | 'reconcilePassMaxMs' | 'reconcilePassSteadyMs' | 'applyToScheduledMs'>> {
  const dir = mkdtempSync(join(tmpdir(), 'berth-control-bench-'));
  try {
    const store = new Store(join(dir, 'state.db'));
    const specs = Array.from({ length: services }, (_, i) => service(`svc${i}`, { replicas: instances / services, port: 9000 + i, template: { ...service('x').template, cpuMillis: 10, memoryMiB: 16 } }));
    const t = makeWorld(desiredState(specs, Array.from({ length: nodeCount }, (_, i) => ({ name: `node-${i + 1}`, capacity: { cpuMillis: 8000, memoryMiB: 16_384 } }))), { store });
    const nodes = new NodeController({ stateDir: dir, layout: stateLayout(dir), sidecarEnv: () => ({}), defaultAppUser: undefined });
    const pressure = new PressureController(0.9, 10_000);
    // Converge: everything created, bound, dispatched, running and ready.
    await onePass(t, nodes, pressure);
    observeAll(t);
    await onePass(t, nodes, pressure);
    if (t.world.liveCount !== instances) throw new Error(`expected ${instances} instances, have ${t.world.liveCount}`);
    const passes: number[] = [];
    const steady: number[] = [];
    for (let i = 0; i < 20; i++) {
      const pushes = t.recorded.pushes.length;
      t.world.setMeta('bench-tick', String(i)); // any write: every node's set is derived again
      let started = performance.now();
      await onePass(t, nodes, pressure);
      passes.push(performance.now() - started);
      if (t.recorded.pushes.length - pushes !== nodeCount) throw new Error('a node was not pushed');
      started = performance.now();
      await onePass(t, nodes, pressure);
      steady.push(performance.now() - started);
    }
    // A one-field change (an environment variable) to one deployment: a new revision.
    const target = specs[3];
    const changed = { ...target, revision: `${target.name}rev2cccc`, template: { ...target.template, main: { ...target.template.main, env: { FEATURE: 'on' } } } };
    t.recorded.pushes.length = 0;
    const started = performance.now();
    t.world.setDesired(desiredState(specs.map((s) => (s.name === target.name ? changed : s)), t.world.desired!.nodes));
    await reconcileDeployment(target.name, t.world, t.act);
    const fresh = t.world.liveOf(target.name).find((r) => r.revision === changed.revision && r.dispatched);
    if (!fresh) throw new Error('no new instance scheduled');
    await nodes.reconcile(fresh.node, t.world, t.act);
    const applyToScheduledMs = performance.now() - started;
    if (!t.recorded.pushes.some((p) => p.desired.instances.some((i) => i.id === fresh.id))) throw new Error('the new instance was not pushed to its node');
    t.close();
    const round = (x: number) => Math.round(x * 100) / 100;
    return { reconcilePassMs: round(median(passes)), reconcilePassMaxMs: round(Math.max(...passes)), reconcilePassSteadyMs: round(median(steady)), applyToScheduledMs: round(applyToScheduledMs) };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function cpuTicks(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return Number(f[11]) + Number(f[12]); // utime + stime
}

/** CPU share of the control-plane process while 50 real instances run and nothing changes. */
export async function runIdleCpu(instances = 50, nodeCount = 5, windowMs = 20_000): Promise<number> {
  const port = portBlock();
  const dir = tempApp({
    'app.mjs': `import http from 'node:http';
http.createServer((q, s) => s.end('ok')).listen(Number(process.env.PORT), process.env.HOST);`,
    'berth.yaml': `app: idle\nnodes: ${nodeCount}\nservices:\n  api:\n    run: node app.mjs\n    port: ${port}\n    replicas: ${instances}\n    probes:\n      readiness: { tcp: {}, periodSeconds: 2 }\n`,
  });
  try {
    await berthOk(dir, ['up', '-d'], { timeoutMs: 300_000 });
    await waitFor(`${instances} ready`, async () => {
      const rows = await ps(dir);
      return rows.length === instances && rows.every((r) => r.ready);
    }, 300_000, 1000);
    // Settle: the start-up's events and pushes are done.
    await new Promise((r) => setTimeout(r, 5000));
    const control = Number(readFileSync(`${dir}/.berth/control.pid`, 'utf8'));
    const hz = 100; // USER_HZ on Linux
    const before = cpuTicks(control);
    const t0 = performance.now();
    await new Promise((r) => setTimeout(r, windowMs));
    const ticks = cpuTicks(control) - before;
    const seconds = (performance.now() - t0) / 1000;
    return Math.round((ticks / hz / seconds) * 100 * 100) / 100;
  } finally {
    await berth(dir, ['down'], { timeoutMs: 120_000 });
  }
}

if (process.argv[1]?.endsWith('control.js')) {
  const inProcess = await runInProcess();
  const idle = process.env.BENCH_IDLE === '0' ? null : await runIdleCpu();
  const result: ControlBenchResult = {
    bench: 'control',
    date: new Date().toISOString(),
    cores: (await import('node:os')).cpus().length,
    instances: 500,
    nodes: 10,
    ...inProcess,
    reconcilePassGoalMs: 20,
    applyToScheduledGoalMs: 200,
    applyMode: 'in-process, fake node clients, file-backed store',
    idleCpuPercent: idle,
    idleCpuInstances: idle === null ? null : 50,
    idleCpuGoalPercent: 2,
  };
  process.stdout.write(JSON.stringify(result) + '\n');
}
