// Lifecycle-at-scale figures (bench/lifecycle prints them in its JSON line under `scale`):
//   nodeLostToReadyMs        `berth node kill` of one of 3 nodes → every instance ready again, none on it
//   loadStepToScaledMs       a step from no load to ~4 × one instance's rps target → 4 instances ready
//   scaleFromZeroFirstMs     a request to a service at zero (min: 0) → its answer (median of 3)
//   fifty                    50 instances over 5 nodes: convergence time and total RSS (bench/nodes)
// Each with the Kubernetes default it compares with: node eviction ≈ 5.7 min (40 s node-monitor grace
// + 300 s not-ready toleration), HPA sync every 15 s (plus pod start), no scale to zero in core
// Kubernetes (HPA minReplicas ≥ 1).
import { berth, berthOk, httpRequest, portBlock, ps, tempApp, waitFor } from '../test/integration/harness/berth.js';
import { runNodesBench, type NodesBenchResult } from './nodes.js';

const httpApp = `import http from 'node:http';
const server = http.createServer((q, s) => s.end('ok'));
server.listen(Number(process.env.PORT), process.env.HOST);
process.on('SIGTERM', () => server.close(() => process.exit(0)));`;

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

async function withApp<T>(spec: (port: number) => string, fn: (dir: string, port: number) => Promise<T>): Promise<T> {
  const port = portBlock();
  const dir = tempApp({ 'app.mjs': httpApp, 'berth.yaml': spec(port) });
  try {
    await berthOk(dir, ['up', '-d', '--wait', '--timeout', '60']);
    return await fn(dir, port);
  } finally {
    await berth(dir, ['down'], { timeoutMs: 120_000 });
  }
}

export async function nodeLostToReadyMs(): Promise<number> {
  const replicas = 9;
  return withApp(
    (port) => `app: bench-nodelost\nnodes: 3\nservices:\n  api:\n    run: node app.mjs\n    port: ${port}\n    replicas: ${replicas}\n    probes:\n      readiness: { tcp: {} }\n`,
    async (dir) => {
      const before = await ps(dir);
      const t = performance.now();
      await berthOk(dir, ['node', 'kill', 'node-2']);
      await waitFor('all ready off node-2', async () => {
        const rows = await ps(dir);
        return rows.length === replicas && rows.every((r) => r.ready && r.node !== 'node-2') && before.some((b) => b.node === 'node-2');
      }, 60_000, 50);
      return Math.round(performance.now() - t);
    },
  );
}

export async function loadStepToScaledMs(): Promise<number> {
  return withApp(
    (port) => `app: bench-loadstep\nservices:\n  api:\n    run: node app.mjs\n    port: ${port}\n    probes:\n      readiness: { tcp: {} }\n    scale:\n      min: 1\n      max: 4\n      metrics: [{ rps: 20 }]\n`,
    async (dir, port) => {
      let stop = false;
      // 4 paced senders, one request every 12.5 ms each: ~80 req/s, 4 × the per-instance target.
      const senders = Array.from({ length: 4 }, async () => {
        while (!stop) {
          const t = performance.now();
          await httpRequest(`http://127.0.0.1:${port}/`, 'GET', 2000).catch(() => undefined);
          await new Promise((r) => setTimeout(r, Math.max(0, 50 - (performance.now() - t))));
        }
      });
      const t = performance.now();
      try {
        await waitFor('4 ready', async () => (await ps(dir)).filter((r) => r.ready).length >= 4, 60_000, 50);
        return Math.round(performance.now() - t);
      } finally {
        stop = true;
        await Promise.all(senders);
      }
    },
  );
}

export async function scaleFromZeroFirstMs(samples = 3): Promise<number> {
  return withApp(
    (port) => `app: bench-zero\nservices:\n  api:\n    run: node app.mjs\n    port: ${port}\n    probes:\n      readiness: { tcp: {} }\n    scale:\n      min: 0\n      max: 1\n      idleSeconds: 1\n      metrics: [{ rps: 100 }]\n`,
    async (dir, port) => {
      const times: number[] = [];
      for (let i = 0; i < samples; i++) {
        await waitFor('at zero', async () => (await ps(dir)).length === 0, 30_000, 100);
        const t = performance.now();
        const r = await httpRequest(`http://127.0.0.1:${port}/`, 'GET', 30_000);
        if (r.status !== 200) throw new Error(`scale from zero answered ${r.status}: ${r.body}`);
        times.push(performance.now() - t);
      }
      return Math.round(median(times));
    },
  );
}

export interface ScaleFigures {
  nodeLostToReadyMs: number;
  loadStepToScaledMs: number;
  scaleFromZeroFirstMs: number;
  fifty: Pick<NodesBenchResult, 'upToAllReadyMs' | 'totalRssMB' | 'rssPerInstanceMB' | 'processes' | 'nodeKillToAllReadyMs'> | null;
  goals: { nodeLostToReadyMs: number; loadStepToScaledMs: number; scaleFromZeroFirstMs: number };
  kubernetesDefaults: { nodeEvictionMs: number; hpaSyncPeriodMs: number; hpaScaleDownWindowMs: number; scaleToZero: null };
}

export async function scaleFigures(fifty: boolean): Promise<ScaleFigures> {
  const nodeLost = await nodeLostToReadyMs();
  const loadStep = await loadStepToScaledMs();
  const fromZero = await scaleFromZeroFirstMs();
  const f = fifty ? await runNodesBench(50, 5) : null;
  return {
    nodeLostToReadyMs: nodeLost,
    loadStepToScaledMs: loadStep,
    scaleFromZeroFirstMs: fromZero,
    fifty: f && { upToAllReadyMs: f.upToAllReadyMs, totalRssMB: f.totalRssMB, rssPerInstanceMB: f.rssPerInstanceMB, processes: f.processes, nodeKillToAllReadyMs: f.nodeKillToAllReadyMs },
    goals: { nodeLostToReadyMs: 5000, loadStepToScaledMs: 3000, scaleFromZeroFirstMs: 1000 },
    kubernetesDefaults: { nodeEvictionMs: 342_000, hpaSyncPeriodMs: 15_000, hpaScaleDownWindowMs: 300_000, scaleToZero: null },
  };
}
