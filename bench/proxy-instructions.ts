// bench/proxy-instructions: instructions each sidecar of the pair executes per small keep-alive
// request, counted by valgrind's callgrind — a count, not a time, so it does not move with a shared
// machine's load (wall-clock and CPU-time figures here swing by 5–10 % between rounds, more than most
// single changes). One sidecar at a time runs under callgrind with V8 single-threaded (compilation
// and GC on the counted thread); counting starts after BENCH_WARM requests (the JIT has optimized
// the request path by then) and covers the next BENCH_COUNT, over 10 keep-alive connections.
// Compares with another build (BENCH_BASELINE_PROXY, e.g. a copy of an earlier dist's
// src/sidecar/proxy/main.js) in the same run. Counts are of user-space instructions: the kernel's
// share of a request (its two reads and two writes per hop) is not in them.
// Needs valgrind (`apt-get install -y valgrind`); prints one JSON line.
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, mkdtempSync } from 'node:fs';
import http from 'node:http';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import { berthPair, HOST, killAll, median, requireTools, start, until } from './proxy-lib/setup.js';

const WARM = Number(process.env.BENCH_WARM ?? 20_000);
const COUNT = Number(process.env.BENCH_COUNT ?? 10_000);
const RUNS = Number(process.env.BENCH_RUNS ?? 1);
const BASE = Number(process.env.BENCH_PORT ?? 27500);
const CONNECTIONS = 10;

/** Sends `n` GETs to `url` over `agent`'s connections, CONNECTIONS at a time; every answer must be 200. */
async function load(url: string, agent: http.Agent, n: number): Promise<void> {
  let sent = 0;
  const one = (): Promise<void> =>
    new Promise((resolve, reject) => {
      http
        .get(url, { agent }, (res) => {
          res.resume();
          res.on('end', () => (res.statusCode === 200 ? resolve() : reject(new Error(`status ${res.statusCode}`))));
        })
        .on('error', reject);
    });
  await Promise.all(
    Array.from({ length: CONNECTIONS }, async () => {
      while (sent++ < n) await one();
    }),
  );
}

/** Instructions per request of sidecar `which` ('a': outbound, 'b': inbound) of the build `main`. */
async function count(originPort: number, base: number, which: 'a' | 'b', main: string | undefined): Promise<number> {
  const dir = mkdtempSync(join(tmpdir(), 'berth-bench-callgrind-'));
  const out = join(dir, 'callgrind.out');
  // callgrind_control finds the process by files named after USER and HOST: the same for both.
  const user = userInfo().username;
  const ids = { USER: user, LOGNAME: user, HOST };
  const pair = await berthPair({
    base,
    originPort,
    accessLog: false,
    ...(main ? { proxyMain: main } : {}),
    wrap: { [which]: { command: ['valgrind', '--tool=callgrind', '--instr-atstart=no', `--callgrind-out-file=${out}`], nodeFlags: ['--single-threaded'], env: ids } },
  });
  const pid = String((which === 'a' ? pair.a : pair.b).pid);
  const control = (...args: string[]): void => void execFileSync('callgrind_control', [...args, pid], { env: { ...process.env, ...ids }, stdio: 'ignore' });
  const agent = new http.Agent({ keepAlive: true, maxSockets: CONNECTIONS });
  try {
    await load(pair.url, agent, WARM);
    control('-i', 'on');
    await load(pair.url, agent, COUNT);
    control('-i', 'off');
    control('-d');
    // The dump is written asynchronously by the valgrind'd process.
    let total = 0;
    for (let i = 0; i < 100 && total === 0; i++) {
      await new Promise((r) => setTimeout(r, 100));
      for (const f of readdirSync(dir).filter((n) => n.startsWith('callgrind.out'))) {
        const m = /^totals: (\d+)/m.exec(readFileSync(join(dir, f), 'utf8'));
        if (m) total = Math.max(total, Number(m[1]));
      }
    }
    if (total === 0) throw new Error(`no callgrind dump in ${dir}`);
    return Math.round(total / COUNT);
  } finally {
    agent.destroy();
    pair.a.kill('SIGKILL');
    pair.b.kill('SIGKILL');
  }
}

async function main(): Promise<void> {
  requireTools('valgrind', 'callgrind_control');
  const originPort = BASE;
  start(process.execPath, ['-e', `require('node:http').createServer((q, s) => { s.setHeader('content-type', 'text/plain'); s.end('hello world\\n'); }).listen(${originPort}, '${HOST}')`]);
  await until(`http://${HOST}:${originPort}/`);
  const baseline = process.env.BENCH_BASELINE_PROXY;
  if (baseline && !existsSync(baseline)) throw new Error(`BENCH_BASELINE_PROXY ${baseline} does not exist`);
  const builds: [string, string | undefined][] = [['berth', undefined], ...(baseline ? [['baseline', baseline] as [string, string]] : [])];
  const result: Record<string, { outbound: number[]; inbound: number[] }> = {};
  let port = BASE + 10;
  for (let r = 0; r < RUNS; r++) {
    for (const [name, main] of builds) {
      const m = (result[name] ??= { outbound: [], inbound: [] });
      m.outbound.push(await count(originPort, (port += 10), 'a', main));
      m.inbound.push(await count(originPort, (port += 10), 'b', main));
    }
  }
  const out: Record<string, unknown> = { bench: 'proxy-instructions', date: new Date().toISOString(), warm: WARM, counted: COUNT, runs: RUNS };
  for (const [name, m] of Object.entries(result)) {
    out[name] = { outboundPerRequest: median(m.outbound), inboundPerRequest: median(m.inbound), rounds: m.outbound.map((o, i) => `${o}/${m.inbound[i]}`) };
  }
  if (result.baseline) {
    const ratio = (k: 'outbound' | 'inbound'): number => +(median(result.berth[k]) / median(result.baseline[k])).toFixed(3);
    out.vsBaseline = { outbound: ratio('outbound'), inbound: ratio('inbound') };
  }
  out.valgrind = spawnSync('valgrind', ['--version'], { encoding: 'utf8' }).stdout.trim();
  process.stdout.write(JSON.stringify(out) + '\n');
}

main()
  .catch((err: Error) => {
    process.stderr.write(`bench/proxy-instructions: ${err.message}\n`);
    process.exitCode = 1;
  })
  .finally(killAll);
