// bench/gitops: how long a commit takes to serve through the GitOps controller, and what policy
// evaluation costs in that path. One JSON line:
// - pushToServingMs: a commit made in the repository → its response served on the service's address,
//   polling every `intervalMs` (goal ≤ interval + 2 s); median and max of ROUNDS commits;
// - webhookToServingMs: the same with a long interval and `POST /api/v1/gitops/NAME/refresh` right
//   after the commit (goal ≤ 2 s);
// - policy: bench/policy's figures (100 services × 20 rules, goal ≤ 50 ms), run as a child process.
// Real parts: the git binary, the berth CLI, a control plane, a node agent, a rolling update.
// Run: node dist/bench/gitops.js
import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import { loadavg, tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROUNDS = 5;
const INTERVAL_MS = 2000;
const root = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const berthBin = join(root, 'bin', 'berth.js');
const SERVER = "require('node:http').createServer((q, s) => s.end(process.env.MSG)).listen(Number(process.env.PORT), process.env.HOST);\n";

const git = (cwd: string, ...args: string[]) => execFileSync('git', args, { cwd, encoding: 'utf8' }).trim();
function berth(cwd: string, ...args: string[]): string {
  const r = spawnSync(process.execPath, [berthBin, ...args], { cwd, encoding: 'utf8', env: { ...process.env, NO_COLOR: '1' } });
  if (r.status !== 0) throw new Error(`berth ${args.join(' ')}: exit ${r.status}\n${r.stdout}${r.stderr}`);
  return r.stdout;
}

function freePort(): Promise<number> {
  return new Promise((res, rej) => {
    const s = net.createServer().listen(0, '127.0.0.1', () => {
      const p = (s.address() as net.AddressInfo).port;
      s.close(() => res(p));
    });
    s.on('error', rej);
  });
}

function get(port: number): Promise<string> {
  return new Promise((res) => {
    const req = http.get({ host: '127.0.0.1', port, path: '/', agent: false, timeout: 1000 }, (r) => {
      let b = '';
      r.on('data', (d: Buffer) => (b += d.toString()));
      r.on('end', () => res(b));
      r.on('error', () => res(''));
    });
    req.on('error', () => res(''));
    req.on('timeout', () => req.destroy());
  });
}

async function until(port: number, body: string, timeoutMs = 60_000): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (performance.now() < deadline) {
    if ((await get(port)) === body) return;
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error(`127.0.0.1:${port} did not serve ${body} within ${timeoutMs} ms`);
}

function post(port: number, path: string, token: string): Promise<number> {
  return new Promise((res, rej) => {
    const req = http.request({ host: '127.0.0.1', port, path, method: 'POST', agent: false, headers: { authorization: `Bearer ${token}` } }, (r) => {
      r.resume();
      res(r.statusCode ?? 0);
    });
    req.on('error', rej);
    req.end();
  });
}

const spec = (port: number, msg: string) => `app: gitopsbench
services:
  web:
    run: node srv.js
    port: ${port}
    env: { MSG: ${msg} }
    probes:
      readiness: { tcp: {}, periodSeconds: 0.2 }
`;

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

async function main(): Promise<void> {
  const repo = mkdtempSync(join(tmpdir(), 'berth-gitops-bench-repo-'));
  const app = mkdtempSync(join(tmpdir(), 'berth-gitops-bench-app-'));
  chmodSync(app, 0o755); // apps run as another user when Berth runs as root: they read the working tree under here
  const port = await freePort();
  let n = 0;
  const commit = (): string => {
    const msg = `v${++n}`;
    writeFileSync(join(repo, 'berth.yaml'), spec(port, msg));
    git(repo, 'add', '-A');
    git(repo, 'commit', '-q', '-m', msg);
    return msg;
  };
  try {
    git(repo, 'init', '-q', '-b', 'main');
    git(repo, 'config', 'user.email', 'bench@example.com');
    git(repo, 'config', 'user.name', 'bench');
    writeFileSync(join(repo, 'srv.js'), SERVER);
    let msg = commit();
    berth(app, 'gitops', 'add', 'bench', '--repo', repo, '--auto-sync', '--interval', `${INTERVAL_MS}ms`);
    await until(port, msg);

    const polled: number[] = [];
    for (let i = 0; i < ROUNDS; i++) {
      msg = commit();
      const t0 = performance.now();
      await until(port, msg);
      polled.push(performance.now() - t0);
    }

    berth(app, 'gitops', 'rm', 'bench');
    berth(app, 'gitops', 'add', 'bench', '--repo', repo, '--auto-sync', '--interval', '1h');
    // The re-added source's first pass applies the head it already ran (no change): wait for it.
    const deadline = performance.now() + 30_000;
    while ((JSON.parse(berth(app, 'gitops', 'status', 'bench', '--json')) as { revision: string | null }).revision === null) {
      if (performance.now() > deadline) throw new Error('the re-added source never synced');
      await new Promise((r) => setTimeout(r, 100));
    }
    const token = readFileSync(join(app, '.berth', 'token'), 'utf8').trim();
    const cp = JSON.parse(readFileSync(join(app, '.berth', 'control.json'), 'utf8')) as { port: number };
    const hooked: number[] = [];
    for (let i = 0; i < ROUNDS; i++) {
      msg = commit();
      const t0 = performance.now();
      const code = await post(cp.port, '/api/v1/gitops/bench/refresh', token);
      if (code !== 202) throw new Error(`refresh answered ${code}`);
      await until(port, msg);
      hooked.push(performance.now() - t0);
    }

    const policyRun = spawnSync(process.execPath, [join(root, 'dist', 'bench', 'policy.js')], { encoding: 'utf8' });
    const policy = policyRun.status === 0 ? (JSON.parse(policyRun.stdout.trim().split('\n').at(-1) ?? '{}') as Record<string, unknown>) : { error: policyRun.stderr.trim() };
    const r = (x: number) => Math.round(x);
    process.stdout.write(
      JSON.stringify({
        bench: 'gitops',
        date: new Date().toISOString(),
        rounds: ROUNDS,
        intervalMs: INTERVAL_MS,
        pushToServingMs: { median: r(median(polled)), max: r(Math.max(...polled)) },
        pushGoalMs: INTERVAL_MS + 2000,
        pushWithinGoal: Math.max(...polled) <= INTERVAL_MS + 2000,
        webhookToServingMs: { median: r(median(hooked)), max: r(Math.max(...hooked)) },
        webhookGoalMs: 2000,
        webhookWithinGoal: Math.max(...hooked) <= 2000,
        policy: { services: policy.services, rules: policy.rules, evaluateMs: policy.evaluateMs, evaluateCpuMs: policy.evaluateCpuMs, goalMs: 50, withinGoal: policy.withinGoal },
        loadAverage: Number(loadavg()[0].toFixed(2)),
      }) + '\n',
    );
  } finally {
    spawnSync(process.execPath, [berthBin, 'down'], { cwd: app, encoding: 'utf8' });
    rmSync(repo, { recursive: true, force: true });
    rmSync(app, { recursive: true, force: true });
  }
}

await main();
