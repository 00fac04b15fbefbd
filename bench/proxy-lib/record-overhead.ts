// What recording costs in the proxy: the same Berth sidecar pair at a fixed 1,000 req/s without
// recording and with the inbound sidecar recording every request (sample 1), interleaved rounds so a
// shared machine's drift hits both alike (the order flips every round, so neither setup always runs
// after the other), and a twin of the pair without recording: the same comparison between two
// identical pairs (recordNoise*) is the bench's own noise, to read the overhead against; optionally a third pair running another build of the proxy
// (BENCH_BASELINE_PROXY, e.g. the main checkout's dist) to show recording-off changed nothing, or —
// with BENCH_BASELINE_RECORD=1 — recording too, to compare two builds' recorders in the same run. The
// recorded fraction is entries on disk over requests the recording sidecar served.
import { spawn } from 'node:child_process';
import http from 'node:http';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { berthPair, cpuTicks, HOST, median, sleep, start, until, type SidecarPair } from './setup.js';

const here = dirname(fileURLToPath(import.meta.url));
const fixedRate = join(here, 'fixed-rate.js');

function fixed(url: string, rate: number, seconds: number): Promise<{ sent: number; ok: number; errors: number; p50Ms: number; p99Ms: number }> {
  return new Promise((resolve, reject) => {
    const c = spawn(process.execPath, [fixedRate, url, String(rate), String(seconds)], { stdio: ['ignore', 'pipe', 'inherit'] });
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

function metrics(url: string): Promise<string> {
  return new Promise((resolve, reject) => {
    http.get(`${url}/metrics`, { agent: false }, (res) => {
      let body = '';
      res.on('data', (d: Buffer) => (body += d.toString()));
      res.on('end', () => resolve(body));
    }).on('error', reject);
  });
}

const sum = (text: string, re: RegExp): number => [...text.matchAll(re)].reduce((n, m) => n + Number(m[1]), 0);

export interface RecordingFigures {
  recordOffP50Ms: number;
  recordOffP99Ms: number;
  recordOnP50Ms: number;
  recordOnP99Ms: number;
  recordOverheadP50Ms: number;
  recordOverheadP99Ms: number;
  /** The twin pair (no recording) minus the pair without recording: what an overhead of nothing measures here. */
  recordNoiseP50Ms: number;
  recordNoiseP99Ms: number;
  /** CPU time of the inbound sidecar per request, µs (10 ms clock ticks over every run). */
  inboundCpuUsPerRequestOff: number;
  inboundCpuUsPerRequestOn: number;
  recordedFraction: number;
  recordedEntries: number;
  recordDropped: number;
  baselineInboundCpuUsPerRequest?: number;
  baselineP50Ms?: number;
  baselineP99Ms?: number;
  /** This build with recording off minus the baseline build (noise when ~0). */
  offVsBaselineP50Ms?: number;
  offVsBaselineP99Ms?: number;
  /** BENCH_BASELINE_RECORD=1: the baseline build records too; this build's recording minus the baseline's. */
  baselineRecords?: boolean;
  onVsBaselineP50Ms?: number;
  onVsBaselineP99Ms?: number;
  baselineOverheadP50Ms?: number;
  baselineOverheadP99Ms?: number;
}

export async function recordingFigures(opts: { base: number; runs: number; seconds: number; rate: number }): Promise<RecordingFigures> {
  const originPort = opts.base;
  start(process.execPath, ['-e', `require('node:http').createServer((q, s) => { s.setHeader('content-type', 'application/json'); s.end('{"hello":"world","n":42}\\n'); }).listen(${originPort}, '${HOST}')`]);
  await until(`http://${HOST}:${originPort}/`);
  const baselineMain = process.env.BENCH_BASELINE_PROXY;
  const recording = { id: 'bench', sample: 1, redactHeaders: [], maxBodyBytes: 1048576, maxFileMiB: 100 };
  const baselineRecords = process.env.BENCH_BASELINE_RECORD === '1';
  const pairs: Record<string, SidecarPair> = {
    off: await berthPair({ base: opts.base + 10, originPort, accessLog: false }),
    on: await berthPair({ base: opts.base + 20, originPort, accessLog: false, recording }),
    twin: await berthPair({ base: opts.base + 40, originPort, accessLog: false }),
  };
  if (baselineMain && existsSync(baselineMain)) pairs.baseline = await berthPair({ base: opts.base + 30, originPort, accessLog: false, proxyMain: baselineMain, ...(baselineRecords ? { recording } : {}) });
  await sleep(300); // the recording sidecar loads its recorder with the snapshot
  // Requests served before the runs (the set-up's readiness check, sent before the recorder was
  // loaded) are not the runs' business: the fraction is over what the runs sent.
  const before = await metrics(pairs.on.bAdmin!);
  const servedBefore = sum(before, /berth_proxy_request_duration_seconds_count\{[^}]*direction="inbound"[^}]*\} (\d+)/g);
  const recordedBefore = sum(before, /berth_proxy_recorded_total\{[^}]*\} (\d+)/g);
  const m: Record<string, { p50: number[]; p99: number[]; ticks: number; sent: number }> = Object.fromEntries(Object.keys(pairs).map((k) => [k, { p50: [], p99: [], ticks: 0, sent: 0 }]));
  for (let i = 0; i < opts.runs; i++) {
    const order = Object.entries(pairs);
    if (i % 2 === 1) order.reverse();
    for (const [k, pair] of order) {
      // CPU time of the recording side (b, the inbound sidecar) per request: holds on a busy machine, unlike latency.
      const t0 = cpuTicks(pair.b.pid!);
      const f = await fixed(pair.url, opts.rate, opts.seconds);
      m[k].ticks += cpuTicks(pair.b.pid!) - t0;
      m[k].sent += f.sent;
      if (f.errors) throw new Error(`${k}: ${f.errors} errors at ${opts.rate} req/s`);
      m[k].p50.push(f.p50Ms);
      m[k].p99.push(f.p99Ms);
    }
  }
  const usPerRequest = (k: string): number => Math.round((m[k].ticks * 10_000) / m[k].sent);
  await sleep(1000); // the writer's last batch reaches the disk
  const text = await metrics(pairs.on.bAdmin!);
  const served = sum(text, /berth_proxy_request_duration_seconds_count\{[^}]*direction="inbound"[^}]*\} (\d+)/g) - servedBefore;
  const recorded = sum(text, /berth_proxy_recorded_total\{[^}]*\} (\d+)/g) - recordedBefore;
  const dropped = sum(text, /berth_proxy_recording_dropped_total\{[^}]*\} (\d+)/g);
  const r3 = (n: number): number => +n.toFixed(3);
  const med = (k: string): { p50: number; p99: number } => ({ p50: median(m[k].p50), p99: median(m[k].p99) });
  const off = med('off');
  const on = med('on');
  const out: RecordingFigures = {
    recordOffP50Ms: off.p50,
    recordOffP99Ms: off.p99,
    recordOnP50Ms: on.p50,
    recordOnP99Ms: on.p99,
    recordOverheadP50Ms: r3(median(m.on.p50.map((v, i) => v - m.off.p50[i]))),
    recordOverheadP99Ms: r3(median(m.on.p99.map((v, i) => v - m.off.p99[i]))),
    recordNoiseP50Ms: r3(median(m.twin.p50.map((v, i) => v - m.off.p50[i]))),
    recordNoiseP99Ms: r3(median(m.twin.p99.map((v, i) => v - m.off.p99[i]))),
    inboundCpuUsPerRequestOff: usPerRequest('off'),
    inboundCpuUsPerRequestOn: usPerRequest('on'),
    recordedFraction: served ? +(recorded / served).toFixed(5) : 0,
    recordedEntries: recorded,
    recordDropped: dropped,
  };
  if (m.baseline) {
    const b = med('baseline');
    Object.assign(out, { baselineInboundCpuUsPerRequest: usPerRequest('baseline'), baselineP50Ms: b.p50, baselineP99Ms: b.p99, offVsBaselineP50Ms: r3(median(m.off.p50.map((v, i) => v - m.baseline.p50[i]))), offVsBaselineP99Ms: r3(median(m.off.p99.map((v, i) => v - m.baseline.p99[i]))) });
    if (baselineRecords) {
      const diff = (a: number[], b: number[]): number => r3(median(a.map((v, i) => v - b[i])));
      Object.assign(out, { baselineRecords: true, onVsBaselineP50Ms: diff(m.on.p50, m.baseline.p50), onVsBaselineP99Ms: diff(m.on.p99, m.baseline.p99), baselineOverheadP50Ms: diff(m.baseline.p50, m.off.p50), baselineOverheadP99Ms: diff(m.baseline.p99, m.off.p99) });
    }
  }
  return out;
}
