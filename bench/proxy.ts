// bench/proxy: what two Berth sidecars (outbound + inbound, the mesh's app → app hop) cost, against
// a direct connection and two nginx hops (Debian's nginx, keep-alive upstreams), in the same run.
//   rpsDirect / rpsBerth / rpsNginx      saturation (wrk -t1 -c50), median of BENCH_RUNS
//   p50/p99 at a fixed 1,000 req/s       open-loop generator (bench/proxy-lib/fixed-rate.ts; its first second not measured), median of BENCH_RUNS
//   berthAddedP50Ms / berthAddedP99Ms    pair minus direct; the same for nginx
//   sidecarCpuPer1kRps, sidecarRssMB     per sidecar, during the fixed-rate run (sidecarAnonMB: the RSS
//                                        less the node binary's shared file pages, ~41 MB of it)
//   ...AccessLog                          a second Berth pair with the JSON access log on
//   rpsBareRelayPair                     two bare Node TCP relays (no HTTP parsed): the ceiling of a Node data plane here
// Every setup is warmed up first (BENCH_WARMUP_SECONDS of uncounted wrk each), runs for the whole
// bench, and the runs are interleaved (direct, nginx, Berth, Berth with access log, then again), so a
// shared machine's drift hits all of them alike; the saturation ratio is the median of the per-round
// ratios.
// Needs wrk and nginx (`apt-get install -y wrk nginx`); prints one JSON line.
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { bareRelayPair, berthPair, cpuTicks, HOST, killAll, median, nginxPair, nginxWorkers, requireTools, rssMB, anonMB, start, until, wrk as wrkFor, type SidecarPair } from './proxy-lib/setup.js';

const here = dirname(fileURLToPath(import.meta.url));
const fixedRate = join(here, 'proxy-lib', 'fixed-rate.js');
const RUNS = Number(process.env.BENCH_RUNS ?? 5);
const SECONDS = Number(process.env.BENCH_SECONDS ?? 5);
// Each setup first serves an uncounted wrk run of this length: the Node processes (origin, sidecars,
// relays) reach their optimised code before anything is measured, as nginx's C code starts.
const WARMUP_SECONDS = Number(process.env.BENCH_WARMUP_SECONDS ?? 3);
const RATE = 1000;
const BASE = Number(process.env.BENCH_PORT ?? 27100);
const P = { origin: BASE, ngA: BASE + 7, ngB: BASE + 8, relayA: BASE + 20, relayB: BASE + 21 };
const wrk = (url: string): number => wrkFor(url, SECONDS);

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

async function sidecarCost(pair: SidecarPair, url: string): Promise<{ cpuPer1k: number; rss: number; anon: number }> {
  const before = [cpuTicks(pair.a.pid!), cpuTicks(pair.b.pid!)];
  const t0 = performance.now();
  await fixed(url);
  const secs = (performance.now() - t0) / 1000;
  const after = [cpuTicks(pair.a.pid!), cpuTicks(pair.b.pid!)];
  const cpu = (after[0] - before[0] + after[1] - before[1]) / 2 / 100 / secs; // vCPU per sidecar
  return { cpuPer1k: +((cpu * 1000) / RATE).toFixed(3), rss: Math.max(rssMB(pair.a.pid!), rssMB(pair.b.pid!)), anon: Math.max(anonMB(pair.a.pid!), anonMB(pair.b.pid!)) };
}

async function main(): Promise<void> {
  requireTools('wrk', 'nginx');
  const origin = start(process.execPath, ['-e', `require('node:http').createServer((q, s) => { s.setHeader('content-type', 'text/plain'); s.end('hello world\\n'); }).listen(${P.origin}, '${HOST}')`]);
  void origin;
  await until(`http://${HOST}:${P.origin}/`);
  const masters = nginxPair({ portA: P.ngA, portB: P.ngB, originPort: P.origin });
  await until(`http://${HOST}:${P.ngA}/`);
  await nginxWorkers(masters); // ours answered, not a leftover
  const pair = await berthPair({ base: BASE, originPort: P.origin, accessLog: false });
  const loggedPair = await berthPair({ base: BASE + 10, originPort: P.origin, accessLog: true });
  bareRelayPair({ portA: P.relayA, portB: P.relayB, originPort: P.origin });
  const relayUrl = `http://${HOST}:${P.relayA}/`;
  await until(relayUrl);
  const relayRps: number[] = [];
  const setups = { direct: `http://${HOST}:${P.origin}/`, nginx: `http://${HOST}:${P.ngA}/`, berth: pair.url, logged: loggedPair.url };
  if (WARMUP_SECONDS > 0) for (const url of [...Object.values(setups), relayUrl]) wrkFor(url, WARMUP_SECONDS);
  const m = Object.fromEntries(Object.keys(setups).map((k) => [k, { rps: [], p50: [], p99: [], errors: 0 } as Measured])) as Record<keyof typeof setups, Measured>;
  for (let i = 0; i < RUNS; i++) {
    for (const k of Object.keys(setups) as (keyof typeof setups)[]) await round(setups[k], m[k]);
    relayRps.push(wrk(relayUrl));
  }
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
      warmupSeconds: WARMUP_SECONDS,
      rpsDirect: Math.round(direct.rps),
      rpsNginxPair: Math.round(nginx.rps),
      rpsBerthPair: Math.round(berth.rps),
      berthVsNginxSaturation: r2(median(ratios)),
      rpsBareRelayPair: Math.round(median(relayRps)),
      berthVsBareRelay: r2(median(m.berth.rps.map((r, i) => r / relayRps[i]))),
      saturationRatios: ratios.map(r2),
      p50DirectMs: direct.p50,
      p99DirectMs: direct.p99,
      nginxAddedP50Ms: r2(nginx.p50 - direct.p50),
      nginxAddedP99Ms: r2(nginx.p99 - direct.p99),
      berthAddedP50Ms: r2(berth.p50 - direct.p50),
      berthAddedP99Ms: r2(berth.p99 - direct.p99),
      sidecarCpuPer1kRps: cost.cpuPer1k,
      sidecarRssMB: cost.rss,
      sidecarAnonMB: cost.anon,
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
  .finally(killAll);
