// bench/record-entry: CPU per recorded exchange in the sidecar's recorder, in-process — begin, the
// tap calls, finish, the batch that builds the entry's JSON and the writer's file writes — for a
// small JSON GET (the bench/replay pair's traffic). BENCH_ENTRIES (200,000). Prints one JSON line.
// Holds on a busy machine (CPU time, not latency); compare builds by running each one's copy.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Recorder } from '../src/sidecar/proxy/recorder.js';

const N = Number(process.env.BENCH_ENTRIES ?? 200_000);
const dir = mkdtempSync(join(tmpdir(), 'berth-bench-record-'));
const r = new Recorder({ id: 'bench', sample: 1, redactHeaders: [], maxBodyBytes: 1048576, maxFileMiB: 100 }, { stateDir: dir, proxyId: 'b-1', onError: (e) => process.stderr.write(`${e.message}\n`) });
const body = Buffer.from('{"hello":"world","n":42}\n');
const resHead = ['Content-Type', 'application/json', 'Date', 'Sat, 05 Dec 2026 14:00:00 GMT', 'Connection', 'keep-alive', 'Keep-Alive', 'timeout=5', 'content-length', '25'];
const tick = (): Promise<void> => new Promise((res) => setImmediate(res));

function one(i: number): void {
  const headers = { host: '127.0.0.1:27322', connection: 'keep-alive', traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01', 'x-request-id': `req-${i}`, 'x-forwarded-for': '127.0.0.1', 'x-forwarded-proto': 'http' };
  const x = r.begin({ method: 'GET', url: '/', headers }, '0af7651916cd43dd8448eb211c80319c')!;
  x.head(200, resHead);
  x.data(body);
  x.finish(200);
}

async function run(n: number): Promise<void> {
  // 50 requests per event-loop turn (1,000 req/s in 50 ms gathers), the writer drained every 1,000.
  for (let i = 0; i < n; i++) {
    one(i);
    if (i % 50 === 49) await tick();
    if (i % 1000 === 999) await r.writer.flush();
  }
  await tick();
  await r.writer.flush();
}

await run(20_000); // warm-up
const cpu0 = process.cpuUsage();
await run(N);
const cpu = process.cpuUsage(cpu0);
const st = await r.close();
rmSync(dir, { recursive: true, force: true });
process.stdout.write(JSON.stringify({ bench: 'record-entry', entries: N, cpuUsPerEntry: +((cpu.user + cpu.system) / N).toFixed(2), written: st.written, dropped: st.dropped }) + '\n');
