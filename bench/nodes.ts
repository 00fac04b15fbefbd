// bench/nodes: 50 instances over 5 simulated nodes on this machine — time until all are ready,
// memory of everything that runs, then a node kill: time until all 50 are ready again elsewhere.
// One JSON line. Kubernetes' defaults for scale: node eviction ≈ 5.7 min (40 s grace + 5 min
// toleration), so "node lost → serving elsewhere" is compared against 342 000 ms.
import { readdirSync, readFileSync } from 'node:fs';
import { berth, berthOk, portBlock, ps, tempApp, waitFor } from '../test/integration/harness/berth.js';

export interface NodesBenchResult {
  bench: 'nodes';
  date: string;
  cores: number;
  instances: number;
  nodes: number;
  upToAllReadyMs: number;
  processes: number;
  totalRssMB: number;
  rssPerInstanceMB: number;
  nodeKillToAllReadyMs: number;
  kubernetesNodeEvictionMs: number;
}

function rssOfTree(rootPids: number[]): { count: number; rssMB: number } {
  // Every process whose ancestry reaches one of the roots (the node agents).
  const parent = new Map<number, number>();
  const rss = new Map<number, number>();
  for (const name of readdirSync('/proc')) {
    const pid = Number(name);
    if (!Number.isInteger(pid)) continue;
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      parent.set(pid, Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]));
      const m = /VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
      rss.set(pid, m ? Number(m[1]) : 0);
    } catch {
      // the process exited while being sampled: it simply is not counted
    }
  }
  const roots = new Set(rootPids);
  let count = 0;
  let kb = 0;
  for (const pid of parent.keys()) {
    let p: number | undefined = pid;
    for (let i = 0; i < 10 && p !== undefined && p > 1; i++) {
      if (roots.has(p)) {
        count++;
        kb += rss.get(pid) ?? 0;
        break;
      }
      p = parent.get(p);
    }
  }
  return { count, rssMB: Math.round(kb / 1024) };
}

export async function runNodesBench(instances = 50, nodeCount = 5, timeoutMs = 600_000): Promise<NodesBenchResult> {
  const port = portBlock();
  const dir = tempApp({
    'app.mjs': `import http from 'node:http';
http.createServer((q, s) => s.end('ok')).listen(Number(process.env.PORT), process.env.HOST);`,
    'berth.yaml': `app: fifty\nnodes: ${nodeCount}\nservices:\n  api:\n    run: node app.mjs\n    port: ${port}\n    replicas: ${instances}\n    probes:\n      readiness: { tcp: {}, periodSeconds: 2 }\n`,
  });
  try {
    const allReady = async () => {
      const rows = await ps(dir);
      return rows.length === instances && rows.every((r) => r.ready) ? rows : undefined;
    };
    const t0 = performance.now();
    await berthOk(dir, ['up', '-d'], { timeoutMs });
    const rows = await waitFor(`${instances} ready`, allReady, timeoutMs, 500);
    const upToAllReadyMs = Math.round(performance.now() - t0);
    const nodes = JSON.parse((await berthOk(dir, ['node', 'ls', '--json'])).stdout) as { name: string; agentPid: number }[];
    const control = Number(readFileSync(`${dir}/.berth/control.pid`, 'utf8'));
    const tree = rssOfTree([...nodes.map((n) => n.agentPid), control]);
    const victim = rows[0].node;
    const t1 = performance.now();
    await berthOk(dir, ['node', 'kill', victim]);
    await waitFor('all ready again', async () => {
      const r = await allReady();
      return r && r.every((x) => !rows.some((o) => o.node === victim && o.instance === x.instance)) ? r : undefined;
    }, timeoutMs, 500);
    const nodeKillToAllReadyMs = Math.round(performance.now() - t1);
    return {
      bench: 'nodes',
      date: new Date().toISOString(),
      cores: (await import('node:os')).cpus().length,
      instances,
      nodes: nodeCount,
      upToAllReadyMs,
      processes: tree.count + nodes.length + 1,
      totalRssMB: tree.rssMB,
      rssPerInstanceMB: Math.round(tree.rssMB / instances),
      nodeKillToAllReadyMs,
      kubernetesNodeEvictionMs: 342_000,
    };
  } finally {
    await berth(dir, ['down'], { timeoutMs: 120_000 });
  }
}

if (process.argv[1]?.endsWith('nodes.js')) {
  const n = Number(process.env.BENCH_INSTANCES ?? 50);
  process.stdout.write(JSON.stringify(await runNodesBench(n, Number(process.env.BENCH_NODES ?? 5))) + '\n');
}
