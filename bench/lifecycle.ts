// bench/lifecycle: the foundation's figures, printed as one JSON line.
//   killToReadyMs      kill -9 of an app (that starts in ~200 ms) → `berth ps` shows it ready again (median of N)
//   killToReadyEventMs the same, to the agent's Ready event timestamp (no CLI polling in it)
//   upWaitMs           `berth up -d --wait` of examples/shop, cold (control plane + agent start)
//   psJsonMs           `berth ps --json` wall time (median of N)
//   controlRssMB / agentRssMB, controlCpuPct / agentCpuPct   idle, measured over a window
//   scale              node lost, load step, scale from zero, 50 instances (bench/scale.ts;
//                      BENCH_SCALE=0 skips it, BENCH_FIFTY=0 skips only the 50-instance run)
// Kubernetes' defaults are printed beside them for scale (a readiness probe every 10 s means a
// restarted pod is seen ready up to 10 s later; liveness 10 s × 3 before a hung app is restarted).
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { berth, berthOk, copyShop, events, portBlock, ps, tempApp, waitFor } from '../test/integration/harness/berth.js';
import { scaleFigures } from './scale.js';

const N = Number(process.env.BENCH_N ?? 7);
const IDLE_WINDOW_MS = Number(process.env.BENCH_IDLE_MS ?? 10_000);
// Idle means settled: start-up probes done, log agents caught up with start-up output.
const SETTLE_MS = Number(process.env.BENCH_SETTLE_MS ?? 5000);
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const clkTck = 100;

function cpuTicks(pid: number): number {
  const s = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = s.slice(s.lastIndexOf(')') + 2).split(' ');
  return Number(f[11]) + Number(f[12]); // utime + stime (fields 14, 15)
}
function rssMB(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Math.round(Number(m[1]) / 102.4) / 10 : NaN;
}

async function timed(fn: () => Promise<unknown>): Promise<number> {
  const t = performance.now();
  await fn();
  return performance.now() - t;
}

async function main(): Promise<void> {
  // 1. berth up --wait of the example, cold.
  const shop = copyShop();
  const upWaitMs = await timed(() => berthOk(shop.dir, ['up', '-d', '--wait', '--timeout', '60']));

  // 2. ps --json latency.
  const psTimes: number[] = [];
  for (let i = 0; i < N; i++) psTimes.push(await timed(() => berthOk(shop.dir, ['ps', '--json'])));

  // 3. idle cost of the control plane and the node agent.
  const cp = Number(readFileSync(join(shop.dir, '.berth', 'control.pid'), 'utf8'));
  const agent = (JSON.parse(readFileSync(join(shop.dir, '.berth', 'nodes', 'node-1', 'agent.json'), 'utf8')) as { pid: number }).pid;
  await new Promise((r) => setTimeout(r, SETTLE_MS));
  const t0 = [cpuTicks(cp), cpuTicks(agent)];
  const w0 = performance.now();
  await new Promise((r) => setTimeout(r, IDLE_WINDOW_MS));
  const elapsedS = (performance.now() - w0) / 1000;
  const t1 = [cpuTicks(cp), cpuTicks(agent)];
  const pct = (i: number) => Math.round(((t1[i] - t0[i]) / clkTck / elapsedS) * 1000) / 10;
  const idle = { controlRssMB: rssMB(cp), agentRssMB: rssMB(agent), controlCpuPct: pct(0), agentCpuPct: pct(1) };
  await berth(shop.dir, ['down']);

  // 4. kill -9 → ready again, for an app that takes ~200 ms to start listening.
  const port = portBlock();
  const dir = tempApp({
    'app.mjs': `import http from 'node:http';
setTimeout(() => http.createServer((q, s) => s.end('ok')).listen(Number(process.env.PORT), process.env.HOST), 200);`,
    'berth.yaml': `app: bench\nservices:\n  app:\n    run: node app.mjs\n    port: ${port}\n    probes:\n      readiness: { http: { path: /ready } }\n`,
  });
  await berthOk(dir, ['up', '-d', '--wait', '--timeout', '30']);
  const killTimes: number[] = [];
  const killToEventTimes: number[] = [];
  for (let i = 0; i < N; i++) {
    const before = (await ps(dir))[0];
    const t = performance.now();
    const wall = Date.now();
    process.kill(before.pid!, 'SIGKILL');
    await waitFor('ready again', async () => {
      const r = (await ps(dir))[0];
      return r.pid !== before.pid && r.ready;
    }, 30_000, 10);
    killTimes.push(performance.now() - t);
    // The platform's own timestamp of the Ready event, without the CLI's polling granularity.
    const ready = (await events(dir)).filter((e) => e.reason === 'Ready' && e.instance === before.instance && Date.parse(e.at) >= wall).at(0);
    if (ready) killToEventTimes.push(Date.parse(ready.at) - wall);
    // Let the back-off window reset so every sample is a "first" restart (resetAfterSeconds default 60 would apply otherwise).
    await berthOk(dir, ['restart', 'app']);
    await waitFor('rolled', async () => {
      const rows = await ps(dir);
      return rows.length === 1 && rows[0].ready && rows[0].instance !== before.instance;
    }, 30_000, 20);
  }
  await berth(dir, ['down']);

  const scale = process.env.BENCH_SCALE === '0' ? null : await scaleFigures(process.env.BENCH_FIFTY !== '0');

  const out = {
    bench: 'lifecycle',
    date: new Date().toISOString(),
    cores: (await import('node:os')).cpus().length,
    killToReadyMs: Math.round(median(killTimes)),
    killToReadyMsMax: Math.round(Math.max(...killTimes)),
    killToReadyEventMs: killToEventTimes.length ? Math.round(median(killToEventTimes)) : null,
    upWaitMs: Math.round(upWaitMs),
    psJsonMs: Math.round(median(psTimes)),
    ...idle,
    goals: { killToReadyMs: 1000, upWaitMs: 3000, psJsonMs: 150, rssMB: 80, cpuPct: 2 },
    kubernetesDefaults: { readinessPeriodMs: 10_000, livenessFailureMs: 30_000, crashLoopBackOffFirstMs: 10_000 },
    scale,
  };
  process.stdout.write(JSON.stringify(out) + '\n');
}

await main();
