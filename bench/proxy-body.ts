// bench/proxy-body: 1 MiB uploads and downloads through two Berth sidecars (outbound + inbound)
// against the same through two nginx hops and a direct connection, in one run with interleaved
// rounds (so a shared machine's drift hits all alike). nginx keeps bodies in memory (a 2 MiB client
// body buffer, no response temp files), as a streaming proxy does; both keep upstream connections.
//   uploadMiBps / downloadMiBps per setup   wrk -c10, 1 MiB per request, median of BENCH_RUNS
//   berthVsNginxUpload / ...Download        median of the per-round ratios
//   cpuMsPerMiB...                          CPU time of the two hops per MiB moved (both directions'
//                                           runs), a figure the shared machine's noise moves far less
// Needs wrk and nginx (`apt-get install -y wrk nginx`); prints one JSON line.
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { berthPair, cpuTicks, HOST, killAll, median, nginxPair, nginxWorkers, requireTools, start, until, wrk } from './proxy-lib/setup.js';

const RUNS = Number(process.env.BENCH_RUNS ?? 3);
const SECONDS = Number(process.env.BENCH_SECONDS ?? 5);
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 10);
const BASE = Number(process.env.BENCH_PORT ?? 27300);
const MIB = 1024 * 1024;
const P = { origin: BASE, ngA: BASE + 7, ngB: BASE + 8 };

// The origin: GET /download answers 1 MiB (sized), POST /upload reads the whole body and answers its length.
const originJs = `
const http = require('node:http');
const blob = Buffer.alloc(${MIB}, 120);
http.createServer((q, s) => {
  if (q.method === 'POST') { let n = 0; q.on('data', (d) => (n += d.length)); q.on('end', () => s.end(String(n))); return; }
  if (q.url.startsWith('/download')) { s.setHeader('content-length', blob.length); return s.end(blob); }
  s.end('ok');
}).listen(${P.origin}, '${HOST}');`;

async function main(): Promise<void> {
  requireTools('wrk', 'nginx');
  const dir = mkdtempSync(join(tmpdir(), 'berth-bench-body-'));
  const uploadLua = join(dir, 'upload.lua');
  writeFileSync(uploadLua, `wrk.method = "POST"\nwrk.body = string.rep("x", ${MIB})\nwrk.headers["Content-Type"] = "application/octet-stream"\n`);
  start(process.execPath, ['-e', originJs]);
  await until(`http://${HOST}:${P.origin}/`);
  const masters = nginxPair({ portA: P.ngA, portB: P.ngB, originPort: P.origin, httpExtra: 'client_max_body_size 0; client_body_buffer_size 2m; proxy_buffers 64 32k; proxy_max_temp_file_size 0;' });
  await until(`http://${HOST}:${P.ngA}/`);
  const pair = await berthPair({ base: BASE, originPort: P.origin, accessLog: false });
  const hops: Record<'nginx' | 'berth', number[]> = { nginx: await nginxWorkers(masters), berth: [pair.a.pid!, pair.b.pid!] };
  /** CPU ticks (1/100 s) of the two hops and MiB moved, per direction. */
  const cpu = { nginx: { up: [0, 0], down: [0, 0] }, berth: { up: [0, 0], down: [0, 0] } };
  const ticks = (k: 'nginx' | 'berth'): number => hops[k].reduce((t, pid) => t + cpuTicks(pid), 0);
  const measured = (k: Setup, dir: 'up' | 'down', run: () => number): number => {
    if (k === 'direct') return run();
    const t0 = ticks(k);
    const rate = run();
    cpu[k][dir][0] += ticks(k) - t0;
    cpu[k][dir][1] += rate * SECONDS;
    return rate;
  };
  const setups = { direct: `http://${HOST}:${P.origin}/`, nginx: `http://${HOST}:${P.ngA}/`, berth: pair.url };
  type Setup = keyof typeof setups;
  const up: Record<Setup, number[]> = { direct: [], nginx: [], berth: [] };
  const down: Record<Setup, number[]> = { direct: [], nginx: [], berth: [] };
  for (let i = 0; i < RUNS; i++) {
    for (const k of Object.keys(setups) as Setup[]) {
      up[k].push(measured(k, 'up', () => wrk(`${setups[k]}upload`, SECONDS, CONNECTIONS, ['-s', uploadLua])));
      down[k].push(measured(k, 'down', () => wrk(`${setups[k]}download`, SECONDS, CONNECTIONS)));
    }
  }
  const r2 = (n: number) => +n.toFixed(2);
  const upRatios = up.berth.map((r, i) => r / up.nginx[i]);
  const downRatios = down.berth.map((r, i) => r / down.nginx[i]);
  process.stdout.write(
    JSON.stringify({
      bench: 'proxy-body',
      date: new Date().toISOString(),
      cpus: cpus().length,
      runs: RUNS,
      seconds: SECONDS,
      connections: CONNECTIONS,
      bodyMiB: 1,
      uploadMiBpsDirect: r2(median(up.direct)),
      uploadMiBpsNginxPair: r2(median(up.nginx)),
      uploadMiBpsBerthPair: r2(median(up.berth)),
      berthVsNginxUpload: r2(median(upRatios)),
      uploadRatios: upRatios.map(r2),
      downloadMiBpsDirect: r2(median(down.direct)),
      downloadMiBpsNginxPair: r2(median(down.nginx)),
      downloadMiBpsBerthPair: r2(median(down.berth)),
      berthVsNginxDownload: r2(median(downRatios)),
      downloadRatios: downRatios.map(r2),
      cpuMsPerMiBUploadNginxPair: r2((cpu.nginx.up[0] * 10) / cpu.nginx.up[1]),
      cpuMsPerMiBUploadBerthPair: r2((cpu.berth.up[0] * 10) / cpu.berth.up[1]),
      cpuMsPerMiBDownloadNginxPair: r2((cpu.nginx.down[0] * 10) / cpu.nginx.down[1]),
      cpuMsPerMiBDownloadBerthPair: r2((cpu.berth.down[0] * 10) / cpu.berth.down[1]),
      loadAverage: readFileSync('/proc/loadavg', 'utf8').split(' ')[0],
    }) + '\n',
  );
}

main()
  .catch((err: Error) => {
    process.stderr.write(`bench/proxy-body: ${err.message}\n`);
    process.exitCode = 1;
  })
  .finally(killAll);
