// bench/proxy-cpu: CPU time per small keep-alive request in each hop of the Berth sidecar pair,
// against another build of the proxy (BENCH_BASELINE_PROXY, e.g. /work/main/dist/src/sidecar/proxy/main.js)
// and/or other Node flags (BENCH_BASELINE_NODE_FLAGS, e.g. "--max-semi-space-size=2 --single-threaded-gc")
// a bare Node TCP relay pair and (when nginx is installed; BENCH_NGINX=0 leaves it out) the nginx
// pair bench/proxy compares with (one worker per hop), in the same run. Rates swing with a shared machine's load; the CPU
// a process spends per request moves far less, so that is what this compares. Each round runs wrk
// (-t1 -c10, BENCH_SECONDS) against every setup in turn; CPU is read from /proc/<pid>/stat (10 ms
// ticks) and divided by wrk's request count. Prints one JSON line: µs per request per hop for the
// outbound (a) and inbound (b) sidecar, per setup, the median over BENCH_RUNS rounds and each round.
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { bareRelayPair, berthPair, cpuTicks, HOST, killAll, median, nginxPair, nginxWorkers, requireTools, start, until } from './proxy-lib/setup.js';

const RUNS = Number(process.env.BENCH_RUNS ?? 5);
const SECONDS = Number(process.env.BENCH_SECONDS ?? 4);
const BASE = Number(process.env.BENCH_PORT ?? 27400);
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 10);

interface Setup {
  url: string;
  pids: [number, number];
  a: number[];
  b: number[];
  rps: number[];
}

/** wrk's request count and rate for one run. */
function wrkCount(url: string): { requests: number; rps: number } {
  const r = spawnSync('wrk', ['-t1', `-c${CONNECTIONS}`, `-d${SECONDS}s`, url], { encoding: 'utf8' });
  const n = /(\d+) requests in/.exec(r.stdout);
  const rps = /Requests\/sec:\s+([\d.]+)/.exec(r.stdout);
  // Timeouts are tolerated (a loaded machine stalls a few requests past wrk's 2 s); the count is of answered requests.
  if (!n || !rps || /Non-2xx|Socket errors: connect [1-9]|read [1-9]|write [1-9]/.test(r.stdout)) throw new Error(`wrk ${url}: ${r.stdout}${r.stderr}`);
  return { requests: Number(n[1]), rps: Number(rps[1]) };
}

function pidOn(port: number): number {
  const out = spawnSync('sh', ['-c', `ss -ltnpH 'sport = :${port}'`], { encoding: 'utf8' }).stdout;
  const m = /pid=(\d+)/.exec(out);
  if (!m) throw new Error(`nothing listens on ${port}`);
  return Number(m[1]);
}

async function main(): Promise<void> {
  requireTools('wrk', 'ss');
  const originPort = BASE;
  start(process.execPath, ['-e', `require('node:http').createServer((q, s) => { s.setHeader('content-type', 'text/plain'); s.end('hello world\\n'); }).listen(${originPort}, '${HOST}')`]);
  await until(`http://${HOST}:${originPort}/`);
  const setups: Record<string, Setup> = {};
  const add = (name: string, url: string, pids: [number, number]): void => void (setups[name] = { url, pids, a: [], b: [], rps: [] });
  const pair = await berthPair({ base: BASE + 10, originPort, accessLog: false });
  add('berth', pair.url, [pair.a.pid!, pair.b.pid!]);
  const baselineMain = process.env.BENCH_BASELINE_PROXY;
  const baselineFlags = process.env.BENCH_BASELINE_NODE_FLAGS;
  if (baselineMain || baselineFlags !== undefined) {
    if (baselineMain && !existsSync(baselineMain)) throw new Error(`BENCH_BASELINE_PROXY ${baselineMain} does not exist`);
    const nodeFlags = baselineFlags?.split(' ').filter(Boolean);
    const base = await berthPair({ base: BASE + 20, originPort, accessLog: false, ...(baselineMain ? { proxyMain: baselineMain } : {}), ...(nodeFlags ? { nodeFlags } : {}) });
    add('baseline', base.url, [base.a.pid!, base.b.pid!]);
  }
  if (process.env.BENCH_NGINX !== '0' && spawnSync('sh', ['-c', 'command -v nginx']).status === 0) {
    const ng = { portA: BASE + 41, portB: BASE + 42, originPort };
    const workers = await nginxWorkers(nginxPair(ng));
    await until(`http://${HOST}:${ng.portA}/`);
    add('nginx', `http://${HOST}:${ng.portA}/`, [workers[0], workers[1]]);
  }
  const relay = { portA: BASE + 31, portB: BASE + 32, originPort };
  bareRelayPair(relay);
  await until(`http://${HOST}:${relay.portA}/`);
  add('bareRelay', `http://${HOST}:${relay.portA}/`, [pidOn(relay.portA), pidOn(relay.portB)]);
  for (const s of Object.values(setups)) wrkCount(s.url); // warm-up: the JIT compiles the hot paths
  for (let i = 0; i < RUNS; i++) {
    for (const s of Object.values(setups)) {
      const t0 = s.pids.map(cpuTicks);
      const { requests, rps } = wrkCount(s.url);
      const t1 = s.pids.map(cpuTicks);
      s.a.push(((t1[0] - t0[0]) * 10_000) / requests);
      s.b.push(((t1[1] - t0[1]) * 10_000) / requests);
      s.rps.push(rps);
    }
  }
  const r1 = (n: number): number => +n.toFixed(1);
  const out: Record<string, unknown> = { bench: 'proxy-cpu', date: new Date().toISOString(), runs: RUNS, seconds: SECONDS, connections: CONNECTIONS };
  for (const [name, s] of Object.entries(setups)) {
    out[name] = { outboundUsPerRequest: r1(median(s.a)), inboundUsPerRequest: r1(median(s.b)), rounds: s.a.map((a, i) => `${r1(a)}/${r1(s.b[i])}`), rps: Math.round(median(s.rps)) };
  }
  if (setups.baseline) {
    const ratio = (k: 'a' | 'b'): number => +median(setups.berth[k].map((v, i) => v / setups.baseline[k][i])).toFixed(3);
    out.vsBaseline = { outbound: ratio('a'), inbound: ratio('b') };
  }
  out.loadAverage = readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');
  process.stdout.write(JSON.stringify(out) + '\n');
}

main()
  .catch((err: Error) => {
    process.stderr.write(`bench/proxy-cpu: ${err.message}\n`);
    process.exitCode = 1;
  })
  .finally(killAll);
