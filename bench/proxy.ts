// bench/proxy: what two Berth sidecars (outbound + inbound, the mesh's app → app hop) cost, against
// a direct connection and two nginx hops (Debian's nginx, keep-alive upstreams), in the same run.
//   rpsDirect / rpsBerth / rpsNginx      saturation (wrk -t1 -c50), median of BENCH_RUNS
//   p50/p99 at a fixed 1,000 req/s       open-loop generator (bench/proxy-lib/fixed-rate.ts), median of BENCH_RUNS
//   berthAddedP50Ms / berthAddedP99Ms    pair minus direct; the same for nginx
//   sidecarCpuPer1kRps, sidecarRssMB     per sidecar, during the fixed-rate run
//   ...AccessLog                          a second Berth pair with the JSON access log on
// Every setup runs for the whole bench and the runs are interleaved (direct, nginx, Berth, Berth
// with access log, then again), so a shared machine's drift hits all of them alike; the saturation
// ratio is the median of the per-round ratios.
// Needs wrk and nginx (`apt-get install -y wrk nginx`); prints one JSON line.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { PROXY_ENV, PROXY_NODE_FLAGS } from '../src/lib/mesh-protocol.js';

const here = dirname(fileURLToPath(import.meta.url));
const proxyMain = join(here, '..', 'src', 'sidecar', 'proxy', 'main.js');
/** Node flags for the two proxies (default: the ones the platform starts them with, see src/plan/sidecars/proxy.ts). */
const PROXY_FLAGS = (process.env.BENCH_PROXY_NODE_FLAGS ?? PROXY_NODE_FLAGS.join(' ')).split(' ').filter(Boolean);
const fixedRate = join(here, 'proxy-lib', 'fixed-rate.js');
const RUNS = Number(process.env.BENCH_RUNS ?? 3);
const SECONDS = Number(process.env.BENCH_SECONDS ?? 5);
const RATE = 1000;
const BASE = Number(process.env.BENCH_PORT ?? 27100);
const HOST = '127.0.0.1';
const P = { origin: BASE, ngA: BASE + 7, ngB: BASE + 8 };
/** Ports of a Berth pair; the access-logged pair uses the block after the first. */
const pairPorts = (base: number) => ({ aOut: base + 1, bIn: base + 2, aIn: base + 3, aApp: base + 4, aAdmin: base + 5, bAdmin: base + 6 });

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const children: ChildProcess[] = [];
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function cpuTicks(pid: number): number {
  const s = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = s.slice(s.lastIndexOf(')') + 2).split(' ');
  return Number(f[11]) + Number(f[12]);
}
function rssMB(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Math.round(Number(m[1]) / 102.4) / 10 : NaN;
}

async function until(url: string): Promise<void> {
  for (let i = 0; i < 100; i++) {
    const ok = await new Promise<boolean>((r) => http.get(url, { agent: false }, (res) => (res.resume(), r(res.statusCode === 200))).on('error', () => r(false)));
    if (ok) return;
    await sleep(50);
  }
  throw new Error(`${url} never answered 200`);
}

function start(cmd: string, args: string[], env: Record<string, string> = {}): ChildProcess {
  const c = spawn(cmd, args, { env: { ...process.env, ...env }, stdio: ['ignore', 'ignore', 'inherit'] });
  children.push(c);
  return c;
}

function wrk(url: string): number {
  const r = spawnSync('wrk', ['-t1', '-c50', `-d${SECONDS}s`, url], { encoding: 'utf8' });
  const m = /Requests\/sec:\s+([\d.]+)/.exec(r.stdout);
  if (!m) throw new Error(`wrk failed: ${r.stderr || r.stdout}`);
  return Number(m[1]);
}

function fixed(url: string): Promise<{ p50Ms: number; p99Ms: number; errors: number }> {
  return new Promise((resolve, reject) => {
    const c = spawn(process.execPath, [fixedRate, url, String(RATE), String(SECONDS)], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    c.stdout.on('data', (d: Buffer) => (out += d.toString()));
    c.on('exit', () => {
      try {
        resolve(JSON.parse(out));
      } catch {
        reject(new Error(`fixed-rate generator failed: ${out}`));
      }
    });
  });
}

async function berthPair(accessLog: boolean): Promise<{ a: ChildProcess; b: ChildProcess; url: string }> {
  const p = pairPorts(accessLog ? BASE + 10 : BASE);
  const state = mkdtempSync(join(tmpdir(), 'berth-bench-'));
  mkdirSync(join(state, 'mesh'));
  const snap = { version: 1, app: 'bench', config: { accessLog }, services: [{ name: 'b', port: p.bIn, endpoints: [{ id: 'b-1', host: HOST, port: p.bIn, variant: 'default' }] }] };
  writeFileSync(join(state, 'mesh', 'a-1.json'), JSON.stringify(snap));
  writeFileSync(join(state, 'mesh', 'b-1.json'), JSON.stringify(snap));
  const common = { ...PROXY_ENV, BERTH_PROXY_MODE: 'sidecar', BERTH_STATE_DIR: state, HOST };
  const b = start(process.execPath, [...PROXY_FLAGS, proxyMain], { ...common, BERTH_INSTANCE: 'b-1', BERTH_SERVICE: 'b', BERTH_PROXY_PORT: String(p.bIn), BERTH_PROXY_APP_PORT: String(P.origin), BERTH_PROXY_ADMIN_PORT: String(p.bAdmin) });
  const a = start(process.execPath, [...PROXY_FLAGS, proxyMain], { ...common, BERTH_INSTANCE: 'a-1', BERTH_SERVICE: 'a', BERTH_PROXY_PORT: String(p.aIn), BERTH_PROXY_APP_PORT: String(p.aApp), BERTH_PROXY_ADMIN_PORT: String(p.aAdmin), BERTH_PROXY_OUTBOUND: `b=${p.aOut}` });
  const url = `http://${HOST}:${p.aOut}/`;
  await until(url);
  return { a, b, url };
}

function nginxPair(): void {
  const dir = mkdtempSync(join(tmpdir(), 'berth-bench-nginx-'));
  const conf = (name: string, listen: number, upstream: number) => {
    const file = join(dir, `${name}.conf`);
    writeFileSync(
      file,
      `daemon off; worker_processes 1; pid ${dir}/${name}.pid; error_log ${dir}/${name}.err;
events { worker_connections 4096; }
http { access_log off; client_body_temp_path ${dir}/${name}-body; proxy_temp_path ${dir}/${name}-proxy; fastcgi_temp_path ${dir}/${name}-fcgi; uwsgi_temp_path ${dir}/${name}-uwsgi; scgi_temp_path ${dir}/${name}-scgi;
  upstream up { server ${HOST}:${upstream}; keepalive 64; }
  server { listen ${HOST}:${listen}; location / { proxy_pass http://up; proxy_http_version 1.1; proxy_set_header Connection ""; } } }
`,
    );
    return file;
  };
  start('nginx', ['-c', conf('b', P.ngB, P.origin), '-p', dir]);
  start('nginx', ['-c', conf('a', P.ngA, P.ngB), '-p', dir]);
}

interface Measured {
  rps: number[];
  p50: number[];
  p99: number[];
  errors: number;
}

/** One round for one setup: saturation, then the fixed rate. */
async function round(url: string, m: Measured): Promise<void> {
  m.rps.push(wrk(url));
  const f = await fixed(url);
  m.p50.push(f.p50Ms);
  m.p99.push(f.p99Ms);
  m.errors += f.errors;
}

async function sidecarCost(pair: { a: ChildProcess; b: ChildProcess }, url: string): Promise<{ cpuPer1k: number; rss: number }> {
  const before = [cpuTicks(pair.a.pid!), cpuTicks(pair.b.pid!)];
  const t0 = performance.now();
  await fixed(url);
  const secs = (performance.now() - t0) / 1000;
  const after = [cpuTicks(pair.a.pid!), cpuTicks(pair.b.pid!)];
  const cpu = (after[0] - before[0] + after[1] - before[1]) / 2 / 100 / secs; // vCPU per sidecar
  return { cpuPer1k: +((cpu * 1000) / RATE).toFixed(3), rss: Math.max(rssMB(pair.a.pid!), rssMB(pair.b.pid!)) };
}

async function main(): Promise<void> {
  for (const tool of ['wrk', 'nginx']) {
    if (spawnSync('sh', ['-c', `command -v ${tool}`]).status !== 0) throw new Error(`${tool} is not installed (apt-get install -y wrk nginx)`);
  }
  const origin = start(process.execPath, ['-e', `require('node:http').createServer((q, s) => { s.setHeader('content-type', 'text/plain'); s.end('hello world\\n'); }).listen(${P.origin}, '${HOST}')`]);
  void origin;
  await until(`http://${HOST}:${P.origin}/`);
  nginxPair();
  await until(`http://${HOST}:${P.ngA}/`);
  const pair = await berthPair(false);
  const loggedPair = await berthPair(true);
  const setups = { direct: `http://${HOST}:${P.origin}/`, nginx: `http://${HOST}:${P.ngA}/`, berth: pair.url, logged: loggedPair.url };
  const m = Object.fromEntries(Object.keys(setups).map((k) => [k, { rps: [], p50: [], p99: [], errors: 0 } as Measured])) as Record<keyof typeof setups, Measured>;
  for (let i = 0; i < RUNS; i++) for (const k of Object.keys(setups) as (keyof typeof setups)[]) await round(setups[k], m[k]);
  const cost = await sidecarCost(pair, pair.url);
  const loggedCost = await sidecarCost(loggedPair, loggedPair.url);
  const summary = (x: Measured) => ({ rps: median(x.rps), p50: median(x.p50), p99: median(x.p99), errors: x.errors });
  const direct = summary(m.direct);
  const nginx = summary(m.nginx);
  const berth = summary(m.berth);
  const logged = summary(m.logged);
  const ratios = m.berth.rps.map((r, i) => r / m.nginx.rps[i]);

  const r2 = (n: number) => +n.toFixed(2);
  process.stdout.write(
    JSON.stringify({
      bench: 'proxy',
      date: new Date().toISOString(),
      cpus: (await import('node:os')).cpus().length,
      runs: RUNS,
      seconds: SECONDS,
      rpsDirect: Math.round(direct.rps),
      rpsNginxPair: Math.round(nginx.rps),
      rpsBerthPair: Math.round(berth.rps),
      berthVsNginxSaturation: r2(median(ratios)),
      saturationRatios: ratios.map(r2),
      p50DirectMs: direct.p50,
      p99DirectMs: direct.p99,
      nginxAddedP50Ms: r2(nginx.p50 - direct.p50),
      nginxAddedP99Ms: r2(nginx.p99 - direct.p99),
      berthAddedP50Ms: r2(berth.p50 - direct.p50),
      berthAddedP99Ms: r2(berth.p99 - direct.p99),
      sidecarCpuPer1kRps: cost.cpuPer1k,
      sidecarRssMB: cost.rss,
      rpsBerthPairAccessLog: Math.round(logged.rps),
      berthAddedP50MsAccessLog: r2(logged.p50 - direct.p50),
      berthAddedP99MsAccessLog: r2(logged.p99 - direct.p99),
      sidecarCpuPer1kRpsAccessLog: loggedCost.cpuPer1k,
      errors: direct.errors + nginx.errors + berth.errors + logged.errors,
      loadAverage: readFileSync('/proc/loadavg', 'utf8').split(' ')[0],
    }) + '\n',
  );
}

main()
  .catch((err: Error) => {
    process.stderr.write(`bench/proxy: ${err.message}\n`);
    process.exitCode = 1;
  })
  .finally(() => {
    for (const c of children) c.kill('SIGKILL');
  });
