// bench/tracing: what span emission (spec `mesh.tracing`) costs in the proxy. Two Berth sidecar pairs
// (a's outbound → b's inbound → a small origin) at a fixed 1,000 req/s (bench/proxy-lib/fixed-rate,
// open loop, latency from the scheduled send): `off` without tracing, `on` with `tracing: { sample: 0.1 }`
// (each sampled request: a client span in a, a server span in b, batched every second to a control
// plane stand-in in this process that takes POST /api/v1/traces like the real one). Rounds interleave
// off/on so a shared machine's drift hits both alike.
//   tracingOffP50Ms/P99Ms, tracingOnP50Ms/P99Ms  medians over the rounds
//   tracingOverheadP50Ms/P99Ms  median of on − off per round (goal p50 <= +0.1 ms)
//   cpuUsPerRequestOff/On  CPU time of both sidecars per request (10 ms clock ticks): holds on a busy machine
//   sampledFraction  spans received / (2 × requests sent to `on`): ≈ 0.1; inboundSpansSent/Dropped: b's /metrics counters
// BENCH_RUNS x BENCH_SECONDS (default 5 x 5), BENCH_PORT (27400). Prints one JSON line.
import { spawn } from 'node:child_process';
import http from 'node:http';
import { loadavg } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { berthPair, cpuTicks, HOST, killAll, median, sleep, start, until } from './proxy-lib/setup.js';

const here = dirname(fileURLToPath(import.meta.url));
const fixedRate = join(here, 'proxy-lib', 'fixed-rate.js');
const RUNS = Number(process.env.BENCH_RUNS ?? 5);
const SECONDS = Number(process.env.BENCH_SECONDS ?? 5);
const RATE = 1000;
const base = Number(process.env.BENCH_PORT ?? 27400);

function fixed(url: string): Promise<{ sent: number; ok: number; errors: number; p50Ms: number; p99Ms: number }> {
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

// The control plane stand-in: counts span batches (the watch stream is refused; the proxies keep their saved snapshot).
let spans = 0;
let batches = 0;
const control = http.createServer((req, res) => {
  const chunks: Buffer[] = [];
  req.on('data', (c: Buffer) => chunks.push(c));
  req.on('end', () => {
    if (req.method === 'POST' && req.url === '/api/v1/traces') {
      spans += (JSON.parse(Buffer.concat(chunks).toString()) as { spans: unknown[] }).spans.length;
      batches++;
      res.writeHead(200, { 'content-type': 'application/json' }).end('{"stored":0}');
    } else res.writeHead(404).end('{}');
  });
});

try {
  await new Promise<void>((r) => control.listen(base, HOST, r));
  const originPort = base + 1;
  start(process.execPath, ['-e', `require('node:http').createServer((q, s) => { s.setHeader('content-type', 'application/json'); s.end('{"hello":"world","n":42}\\n'); }).listen(${originPort}, '${HOST}')`]);
  await until(`http://${HOST}:${originPort}/`);
  const pairs = {
    off: await berthPair({ base: base + 10, originPort, accessLog: false, controlPort: base }),
    on: await berthPair({ base: base + 20, originPort, accessLog: false, controlPort: base, tracing: { sample: 0.1 } }),
  };
  await sleep(500); // the tracing pair loads spans.js with its snapshot
  const m = { off: { p50: [] as number[], p99: [] as number[], ticks: 0, sent: 0 }, on: { p50: [] as number[], p99: [] as number[], ticks: 0, sent: 0 } };
  const load0 = loadavg()[0];
  for (let i = 0; i < RUNS; i++) {
    for (const k of (i % 2 === 0 ? ['off', 'on'] : ['on', 'off']) as ('off' | 'on')[]) {
      const pair = pairs[k];
      const t0 = cpuTicks(pair.a.pid!) + cpuTicks(pair.b.pid!);
      const f = await fixed(pair.url);
      m[k].ticks += cpuTicks(pair.a.pid!) + cpuTicks(pair.b.pid!) - t0;
      m[k].sent += f.sent;
      if (f.errors) throw new Error(`${k}: ${f.errors} errors at ${RATE} req/s`);
      m[k].p50.push(f.p50Ms);
      m[k].p99.push(f.p99Ms);
    }
  }
  await sleep(1500); // the last batches arrive
  const bMetrics = await new Promise<string>((resolve, reject) => {
    http.get(`${pairs.on.bAdmin}/metrics`, { agent: false }, (res) => {
      let body = '';
      res.on('data', (d: Buffer) => (body += d.toString()));
      res.on('end', () => resolve(body));
    }).on('error', reject);
  });
  const counter = (name: string): number => Number(new RegExp(`${name}\\{[^}]*\\} (\\d+)`).exec(bMetrics)?.[1] ?? NaN);
  const r3 = (n: number): number => +n.toFixed(3);
  const us = (k: 'off' | 'on'): number => Math.round((m[k].ticks * 10_000) / m[k].sent);
  process.stdout.write(
    `${JSON.stringify({
      rate: RATE,
      sample: 0.1,
      runs: RUNS,
      seconds: SECONDS,
      tracingOffP50Ms: median(m.off.p50),
      tracingOffP99Ms: median(m.off.p99),
      tracingOnP50Ms: median(m.on.p50),
      tracingOnP99Ms: median(m.on.p99),
      tracingOverheadP50Ms: r3(median(m.on.p50.map((v, i) => v - m.off.p50[i]))),
      tracingOverheadP99Ms: r3(median(m.on.p99.map((v, i) => v - m.off.p99[i]))),
      cpuUsPerRequestOff: us('off'),
      cpuUsPerRequestOn: us('on'),
      spansReceived: spans,
      spanBatches: batches,
      inboundSpansSent: counter('berth_proxy_spans_sent_total'),
      inboundSpansDropped: counter('berth_proxy_spans_dropped_total'),
      sampledFraction: +(spans / (2 * m.on.sent)).toFixed(4),
      loadavg1: [+load0.toFixed(1), +loadavg()[0].toFixed(1)],
    })}\n`,
  );
} finally {
  killAll();
  control.close();
}
