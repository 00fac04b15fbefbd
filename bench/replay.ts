// bench/replay: how fast `berth replay` sends recorded traffic and how fast the differ compares.
//   replayRps        requests/s replayed (rate max, keep-alive, every answer diffed against the
//                    recording) against an echo HTTP server in its own process; goal >= 5,000 on 2 cores
//   replayerRpsPerCore  requests/s one core of the replayer sustains (from its CPU time): holds on a busy machine
//   replayFailed     requests without an answer (must be 0)
//   replayDiffs      answers that differed from the recording (must be 0: the echo is deterministic)
//   diffEntriesPerS  differ alone: recorded vs live JSON bodies (~1 KB, a few fields differ), per-endpoint report included
//   recordOverheadP50Ms/P99Ms  a Berth sidecar pair at 1,000 req/s with the inbound sidecar recording every
//                    request minus the same pair without (goal <= 0.3 / 0.5 ms), medians of the per-round
//                    differences; recordNoiseP50Ms/P99Ms: a twin pair without recording minus the pair
//                    without (the same comparison where nothing differs); recordedFraction: entries on
//                    disk / requests served (goal 1); BENCH_BASELINE_PROXY=<another build's proxy main.js> adds
//                    offVsBaselineP50Ms/P99Ms: recording off in this build against that build; with
//                    BENCH_BASELINE_RECORD=1 that build records too (onVsBaselineP50Ms/P99Ms: recorder A/B)
// BENCH_SECONDS (default 8) bounds the replay, BENCH_RECORD_RUNS x BENCH_RECORD_SECONDS (5 x 5) per
// recording setup. Prints one JSON line.
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { DiffCollector, readHar, replay, type ComparableResponse, type HarEntry } from '../src/replay/index.js';
import { recordingFigures, type RecordingFigures } from './proxy-lib/record-overhead.js';
import { killAll } from './proxy-lib/setup.js';

const SECONDS = Number(process.env.BENCH_SECONDS ?? 8);
const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY ?? 64);
const ENTRIES = 2000;
const RECORD_RUNS = Number(process.env.BENCH_RECORD_RUNS ?? 5);
const RECORD_SECONDS = Number(process.env.BENCH_RECORD_SECONDS ?? 5);

// The echo service: answers every request with its method and path as JSON, from a child process.
const ECHO = `
const http = require('node:http');
const s = http.createServer((q, r) => {
  const body = JSON.stringify({ method: q.method, path: q.url, ok: true });
  r.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
  r.end(body);
});
s.keepAliveTimeout = 60000;
s.listen(0, '127.0.0.1', () => process.stdout.write(s.address().port + '\\n'));
`;

/** CPU seconds (user + system) a process has used so far, from /proc. */
function procCpuS(pid: number): number {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = f.slice(f.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100; // utime, stime in clock ticks (100/s)
}

function startEcho(): Promise<{ port: number; pid: number; stop: () => void }> {
  const p = spawn(process.execPath, ['-e', ECHO], { stdio: ['ignore', 'pipe', 'inherit'] });
  return new Promise((resolve, reject) => {
    p.once('exit', (c) => reject(new Error(`echo server exited ${c}`)));
    p.stdout.once('data', (d: Buffer) => resolve({ port: Number(d.toString().trim()), pid: p.pid!, stop: () => p.kill('SIGKILL') }));
  });
}

function har(): string {
  const t0 = Date.UTC(2026, 0, 1);
  const entries: HarEntry[] = Array.from({ length: ENTRIES }, (_, i) => {
    const path = `/api/items/${i}?page=${i % 7}`;
    const text = JSON.stringify({ method: 'GET', path, ok: true });
    return {
      startedDateTime: new Date(t0 + i).toISOString(),
      time: 1,
      request: { method: 'GET', url: `http://shop${path}`, httpVersion: 'HTTP/1.1', cookies: [], headers: [{ name: 'accept', value: 'application/json' }], queryString: [], headersSize: -1, bodySize: 0 },
      response: { status: 200, statusText: 'OK', httpVersion: 'HTTP/1.1', cookies: [], headers: [{ name: 'content-type', value: 'application/json' }], content: { size: text.length, mimeType: 'application/json', text }, redirectURL: '', headersSize: -1, bodySize: text.length },
      cache: {},
      timings: { send: 0, wait: 1, receive: 0 },
    };
  });
  const file = join(mkdtempSync(join(tmpdir(), 'berth-bench-replay-')), 'bench.har');
  writeFileSync(file, JSON.stringify({ log: { version: '1.2', creator: { name: 'bench', version: '1' }, entries } }));
  return file;
}

async function replayFigures() {
  const echo = await startEcho();
  try {
    const { exchanges } = await readHar(har());
    const cpu0 = process.cpuUsage();
    const echo0 = procCpuS(echo.pid);
    const r = await replay({ exchanges, to: { name: 'echo', bases: [new URL(`http://127.0.0.1:${echo.port}`)] }, rate: { kind: 'max' }, concurrency: CONCURRENCY, loop: true, maxDurationMs: SECONDS * 1000 });
    const cpu = process.cpuUsage(cpu0);
    const replayerCpuS = (cpu.user + cpu.system) / 1e6;
    const echoCpuS = procCpuS(echo.pid) - echo0;
    return {
      replayRps: Math.round(r.rps),
      replaySent: r.progress.sent,
      replayFailed: r.progress.failed,
      replayDiffs: r.report.diffs,
      // What one core of the replayer sustains: the figure that holds on a busy machine too.
      replayerCpuUsPerRequest: Math.round((replayerCpuS / r.progress.sent) * 1e6),
      replayerRpsPerCore: Math.round(r.progress.sent / replayerCpuS),
      echoCpuUsPerRequest: Math.round((echoCpuS / r.progress.sent) * 1e6),
      loadAverage1m: Number(loadavg()[0].toFixed(1)),
    };
  } finally {
    echo.stop();
  }
}

function diffFigures() {
  const body = (i: number, live: boolean) =>
    Buffer.from(
      JSON.stringify({
        id: i,
        at: live ? '2026-12-05T08:00:00.000Z' : '2026-01-01T00:00:00.000Z',
        items: Array.from({ length: 8 }, (_, k) => ({ sku: `sku-${k}`, name: `item ${k} of order ${i}`, qty: k, price: live && k === 3 && i % 10 === 0 ? 99 : 10 + k })),
        customer: { id: `c-${i}`, name: 'Ada Lovelace', tier: 'gold' },
      }),
    );
  const pairs = Array.from({ length: 1000 }, (_, i): [ComparableResponse, ComparableResponse, string] => [
    { status: 200, headers: [['content-type', 'application/json']], body: body(i, false) },
    { status: 200, headers: [['content-type', 'application/json']], body: body(i, true) },
    `/orders/${i}`,
  ]);
  const c = new DiffCollector({ ignore: ['$.at'] });
  let n = 0;
  const start = performance.now();
  const until = start + 2000;
  while (performance.now() < until)
    for (const [a, b, path] of pairs) {
      c.compare({ method: 'GET', url: `http://shop${path}` }, a, b);
      n++;
    }
  const report = c.report();
  const ms = performance.now() - start;
  return { diffEntriesPerS: Math.round((n / ms) * 1000), diffEntries: n, diffFound: report.diffs, diffBodyBytes: pairs[0][0].body!.length };
}

const replayed = await replayFigures();
const diffed = diffFigures();
// Recording overhead in the sidecar at 1,000 req/s (BENCH_RECORD=0 skips it).
let recorded: RecordingFigures | Record<string, never> = {};
if (process.env.BENCH_RECORD !== '0') {
  try {
    recorded = await recordingFigures({ base: Number(process.env.BENCH_PORT ?? 27300), runs: RECORD_RUNS, seconds: RECORD_SECONDS, rate: 1000 });
  } finally {
    killAll();
  }
}
process.stdout.write(
  JSON.stringify({
    bench: 'replay',
    seconds: SECONDS,
    concurrency: CONCURRENCY,
    ...replayed,
    ...diffed,
    replayGoalRps: 5000,
    ...recorded,
    ...(process.env.BENCH_RECORD !== '0' ? { recordRuns: RECORD_RUNS, recordSeconds: RECORD_SECONDS, recordGoalP50Ms: 0.3, recordGoalP99Ms: 0.5, loadAverageEnd: Number(loadavg()[0].toFixed(1)) } : {}),
  }) + '\n',
);
