// bench/proxy-h2-download: HTTP/2 downloads from an HTTP/1.1 app through one Berth sidecar's
// inbound (the h2 → HTTP/1.1 translation, h2-to-h1.ts):
//   rssIdleMB / rssHeldMB      the sidecar's VmRSS idle, and with STREAMS 8 MiB downloads on one
//                              h2c connection that each read 2 MiB and then stop reading (windows closed)
//   curl64MiBms                one 64 MiB download, curl --http2-prior-knowledge, median of BENCH_RUNS
//   node64MiBms                the same with a node:http2 client (its default 64 KiB windows)
//   cpuMsPer64MiB              the sidecar's CPU time per 64 MiB download (both clients' runs): a
//                              figure a shared machine's noise moves far less than the times
// Prints one JSON line. Ports from BENCH_PORT (47400) on; BENCH_PROXY_MAIN: another build's main.js
// (e.g. the code before a change, built elsewhere) to compare on the same machine.
import { execFileSync } from 'node:child_process';
import http2 from 'node:http2';
import { berthPair, cpuTicks, HOST, killAll, median, rssMB, sleep, start, until } from './proxy-lib/setup.js';

const RUNS = Number(process.env.BENCH_RUNS ?? 7);
const STREAMS = Number(process.env.BENCH_STREAMS ?? 96);
const BASE = Number(process.env.BENCH_PORT ?? 47400);
const MIB = 1024 * 1024;
const origin = BASE;

const originJs = `
const http = require('node:http');
const big = Buffer.alloc(${64 * MIB}, 120);
const mid = big.subarray(0, ${8 * MIB});
http.createServer((q, s) => {
  const b = q.url.startsWith('/64') ? big : q.url.startsWith('/8') ? mid : Buffer.from('ok');
  s.setHeader('content-length', b.length);
  s.end(b);
}).listen(${origin}, '${HOST}');`;

function nodeDownload(url: string, path: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const session = http2.connect(url);
    session.on('error', reject);
    const t0 = performance.now();
    const req = session.request({ ':path': path });
    let n = 0;
    req.on('data', (c: Buffer) => (n += c.length));
    req.on('end', () => {
      session.close();
      resolve(performance.now() - t0);
    });
    req.on('error', reject);
  });
}

async function heldRss(url: string, pid: number): Promise<number> {
  const session = http2.connect(url);
  session.on('error', () => {});
  const streams: http2.ClientHttp2Stream[] = [];
  const paused: Promise<void>[] = [];
  let holding = true;
  for (let i = 0; i < STREAMS; i++) {
    const s = session.request({ ':path': '/8' });
    streams.push(s);
    paused.push(
      new Promise<void>((r) => {
        let n = 0;
        s.on('data', (c: Buffer) => {
          n += c.length;
          if (holding && n >= 2 * MIB && !s.isPaused()) {
            s.pause();
            r();
          }
        });
        s.on('end', () => r());
        s.on('error', () => r());
      }),
    );
  }
  await Promise.all(paused);
  let last = rssMB(pid);
  for (let i = 0; i < 20; i++) {
    await sleep(300);
    const now = rssMB(pid);
    if (now === last) break;
    last = now;
  }
  holding = false;
  await Promise.all(streams.map((s) => new Promise((r) => (s.on('close', r), s.resume()))));
  session.close();
  return last;
}

async function main(): Promise<void> {
  start(process.execPath, ['-e', originJs]);
  await until(`http://${HOST}:${origin}/`);
  const pair = await berthPair({ base: BASE + 10, originPort: origin, accessLog: false, proxyMain: process.env.BENCH_PROXY_MAIN });
  const inbound = `http://${HOST}:${BASE + 12}`;
  const pid = pair.b.pid!;
  // Warm-up: code, pools, the read sizes.
  for (let i = 0; i < 2; i++) await nodeDownload(inbound, '/64');
  await sleep(500);
  const rssIdleMB = rssMB(pid);
  const rssHeldMB = await heldRss(inbound, pid);
  const curl: number[] = [];
  const node: number[] = [];
  const ticks = cpuTicks(pid);
  for (let i = 0; i < RUNS; i++) {
    const out = execFileSync('curl', ['-s', '--http2-prior-knowledge', '-o', '/dev/null', '-w', '%{time_total} %{size_download}', `${inbound}/64`], { encoding: 'utf8' });
    const [t, size] = out.trim().split(' ');
    if (Number(size) !== 64 * MIB) throw new Error(`curl got ${size} bytes`);
    curl.push(Number(t) * 1000);
    node.push(await nodeDownload(inbound, '/64'));
  }
  const cpuMsPer64MiB = ((cpuTicks(pid) - ticks) * 10) / (2 * RUNS);
  const r = (x: number): number => Math.round(x * 10) / 10;
  console.log(JSON.stringify({ streams: STREAMS, rssIdleMB: r(rssIdleMB), rssHeldMB: r(rssHeldMB), curl64MiBms: r(median(curl)), node64MiBms: r(median(node)), cpuMsPer64MiB: r(cpuMsPer64MiB), curlRuns: curl.map(r), nodeRuns: node.map(r) }));
}

main()
  .catch((err) => {
    console.error(err);
    process.exitCode = 1;
  })
  .finally(killAll);
