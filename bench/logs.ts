// bench/logs: the log agent's figures, printed as one JSON line. Each agent run is the real
// `berth-logs` process (dist/src/sidecar/logs/main.js) on a pre-written file of N lines (~190 bytes
// of JSON each), measured side by side with rsyslog's imfile → omfile on the same input in the same run:
//   raw      file → blackhole sink, no parser (lines/s, MiB/s, agent CPU %, peak RSS)
//   parsed   file → HTTP sink (json format) with the json parser and enrichment, to an in-bench server
//   rsyslog  imfile → omfile (Debian's rsyslogd), the baseline
//   loss     lines lost through create-rotation, agent SIGKILL and a 1 s sink outage (must be 0)
// BENCH_LINES (default 1,000,000) sets N; BENCH_AGENT_NODE_FLAGS overrides the agent's Node flags
// (e.g. add `--cpu-prof --cpu-prof-dir=/tmp/prof` to profile the agent); BENCH_ONLY=raw,parsed,rsyslog,loss
// runs only the listed parts; BENCH_AGENT_LOG=<file> appends the agent's stdout and stderr there (e.g. --trace-gc).
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { appendFileSync, existsSync, openSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { LogAgentConfig, LogSinkConfig } from '../src/lib/log-agent-config.js';

const N = Number(process.env.BENCH_LINES ?? 1_000_000);
const agentMain = resolve(fileURLToPath(new URL('.', import.meta.url)), '../src/sidecar/logs/main.js');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const MiB = 1024 * 1024;
const tempDirs: string[] = [];
/** A temp directory, removed when the bench ends (the input alone is ~180 MiB). */
function tempDir(prefix: string): string {
  const d = mkdtempSync(join(tmpdir(), prefix));
  tempDirs.push(d);
  return d;
}

function line(i: number): string {
  const base = `{"ts":"2026-11-26T22:34:19.${String(i % 1000).padStart(3, '0')}Z","level":"${i % 10 === 0 ? 'error' : 'info'}","msg":"request handled seq=${i}","method":"GET","path":"/api/v1/orders","status":200,"ms":${i % 97}}`;
  return base.padEnd(189, ' ') + '\n';
}

function writeInput(path: string, from: number, to: number): void {
  const CH = 20_000;
  for (let i = from; i < to; i += CH) {
    let s = '';
    for (let k = i; k < Math.min(to, i + CH); k++) s += line(k);
    appendFileSync(path, s);
  }
}

function procStats(pid: number): { cpuTicks: number; hwmMiB: number } {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const hwm = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return { cpuTicks: Number(f[11]) + Number(f[12]), hwmMiB: hwm ? Number(hwm[1]) / 1024 : NaN };
  } catch {
    return { cpuTicks: NaN, hwmMiB: NaN };
  }
}

interface AgentRun {
  child: ChildProcess;
  status(): { pipeline?: { linesRead: number }; sinks?: Record<string, { sent: number }> } | undefined;
}

function startAgent(dir: string, files: string[], sinks: LogSinkConfig[], parsers: LogAgentConfig['parsers']): AgentRun {
  const stateDir = join(dir, '.berth');
  const config: LogAgentConfig = {
    captureDir: join(dir, 'no-capture'),
    excludeProcesses: [],
    files,
    cwd: dir,
    parsers,
    maxLineBytes: 1 << 20,
    buffer: { type: 'memory', maxRecords: 10_000, maxBytes: 64 * MiB, whenFull: 'block' },
    sinks,
  };
  // The same flags the plan gives the agent under its default 128 MiB limit (src/plan/sidecars/logs.ts).
  const flags = process.env.BENCH_AGENT_NODE_FLAGS?.split(' ').filter(Boolean) ?? ['--max-old-space-size=64', '--max-semi-space-size=2'];
  const agentLog = process.env.BENCH_AGENT_LOG ? openSync(process.env.BENCH_AGENT_LOG, 'a') : 'ignore';
  const child = spawn(process.execPath, [...flags, agentMain], {
    env: { ...process.env, BERTH_STATE_DIR: stateDir, BERTH_LOGS_CONFIG: JSON.stringify(config), BERTH_APP: 'bench', BERTH_SERVICE: 'web', BERTH_INSTANCE: 'web-1', BERTH_NODE: 'node-1', BERTH_REVISION: 'r1', BERTH_LOGS_STATUS_MS: '50' },
    stdio: ['ignore', agentLog, agentLog],
  });
  const statusPath = join(stateDir, 'logs-agent', 'web-1', 'status.json');
  return {
    child,
    status: () => {
      try {
        return JSON.parse(readFileSync(statusPath, 'utf8')) as ReturnType<AgentRun['status']>;
      } catch {
        return undefined;
      }
    },
  };
}

async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const gone = new Promise((r) => child.once('exit', r));
  child.kill('SIGTERM');
  await gone;
}

/** Runs one agent over the input until its sink has `n` records; returns throughput and resources. */
async function measureAgent(input: string, sinks: LogSinkConfig[], parsers: LogAgentConfig['parsers'], sinkName: string, n: number) {
  const dir = tempDir('bench-logs-');
  const bytes = statSync(input).size;
  const t0 = performance.now();
  const run = startAgent(dir, [input], sinks, parsers);
  let peak = 0;
  for (;;) {
    await sleep(20);
    const s = run.status();
    const p = procStats(run.child.pid as number);
    if (!Number.isNaN(p.hwmMiB)) peak = Math.max(peak, p.hwmMiB);
    if ((s?.sinks?.[sinkName]?.sent ?? 0) >= n) break;
    if (performance.now() - t0 > 300_000) throw new Error('agent run took longer than 5 minutes');
  }
  const secs = (performance.now() - t0) / 1000;
  const cpu = procStats(run.child.pid as number).cpuTicks / 100;
  await stop(run.child);
  return { seconds: +secs.toFixed(2), linesPerSec: Math.round(n / secs), mibPerSec: +(bytes / MiB / secs).toFixed(1), cpuPct: Math.round((cpu / secs) * 100), peakRssMiB: Math.round(peak) };
}

const ID = Buffer.from('{"id":"');

async function countingServer(trackSeqs: boolean): Promise<{ port: number; count: () => number; seqs: Map<number, number>; setDown(d: boolean): void; close(): void }> {
  let count = 0;
  let down = false;
  const seqs = new Map<number, number>();
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      if (down) {
        res.writeHead(503, { 'retry-after': '0.2' }).end();
        return;
      }
      const body = Buffer.concat(chunks);
      if (!trackSeqs) {
        // Throughput runs: count records without parsing (keeps the bench process off the critical path).
        for (let i = body.indexOf(ID); i >= 0; i = body.indexOf(ID, i + 1)) count++;
        res.end('{}');
        return;
      }
      const recs = JSON.parse(body.toString()) as { message: string }[];
      count += recs.length;
      for (const r of recs) {
        const m = /seq=(\d+)/.exec(r.message);
        if (m) seqs.set(Number(m[1]), (seqs.get(Number(m[1])) ?? 0) + 1);
      }
      res.end('{}');
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { port: (server.address() as AddressInfo).port, count: () => count, seqs, setDown: (d) => void (down = d), close: () => server.close() };
}

async function rsyslogBaseline(input: string, n: number) {
  const bin = ['/usr/sbin/rsyslogd', '/sbin/rsyslogd'].find(existsSync);
  if (!bin) return { skipped: 'rsyslogd not installed' };
  const dir = tempDir('bench-rsyslog-');
  mkdirSync(join(dir, 'work'));
  const out = join(dir, 'out.log');
  const conf = join(dir, 'rsyslog.conf');
  writeFileSync(
    conf,
    `global(workDirectory="${dir}/work")\nmodule(load="imfile")\ninput(type="imfile" file="${input}" tag="bench" readMode="0" freshStartTail="off")\ntemplate(name="raw" type="string" string="%msg%\\n")\n*.* action(type="omfile" file="${out}" template="raw" asyncWriting="on" ioBufferSize="256k")\n`,
  );
  const bytes = statSync(input).size;
  const t0 = performance.now();
  const child = spawn(bin, ['-n', '-f', conf, '-i', join(dir, 'pid')], { stdio: 'ignore' });
  let peak = 0;
  const expect = bytes * 0.95; // omfile writes %msg% (the line without its newline handling differences)
  for (;;) {
    await sleep(20);
    const p = procStats(child.pid as number);
    if (!Number.isNaN(p.hwmMiB)) peak = Math.max(peak, p.hwmMiB);
    const size = existsSync(out) ? statSync(out).size : 0;
    if (size >= expect) {
      const lines = spawnSync('wc', ['-l', out]).stdout.toString();
      if (Number(lines.trim().split(' ')[0]) >= n) break;
    }
    if (performance.now() - t0 > 300_000) throw new Error('rsyslog took longer than 5 minutes');
  }
  const secs = (performance.now() - t0) / 1000;
  const cpu = procStats(child.pid as number).cpuTicks / 100;
  await stop(child);
  return { seconds: +secs.toFixed(2), linesPerSec: Math.round(n / secs), mibPerSec: +(bytes / MiB / secs).toFixed(1), cpuPct: Math.round((cpu / secs) * 100), peakRssMiB: Math.round(peak) };
}

/** Rotation + SIGKILL + outage with real processes; returns lines lost and duplicates. */
async function lossScenario() {
  const M = 200_000;
  const dir = tempDir('bench-loss-');
  mkdirSync(join(dir, 'logs'));
  const file = join(dir, 'logs', 'app.log');
  const srv = await countingServer(true);
  const sinks: LogSinkConfig[] = [{ type: 'http', name: 'http', url: `http://127.0.0.1:${srv.port}/`, format: 'json' }];
  let run = startAgent(dir, ['logs/app.log*'], sinks, []);
  for (let part = 0; part < 4; part++) {
    writeInput(file, part * (M / 4), (part + 1) * (M / 4));
    if (part === 1) {
      run.child.kill('SIGKILL');
      await new Promise((r) => run.child.once('exit', r));
      run = startAgent(dir, ['logs/app.log*'], sinks, []);
    }
    if (part === 2) {
      srv.setDown(true);
      await sleep(1000);
      srv.setDown(false);
    }
    if (part < 3) renameSync(file, `${file}.${part + 1}`);
  }
  const t0 = performance.now();
  while (srv.seqs.size < M && performance.now() - t0 < 120_000) await sleep(50);
  await stop(run.child);
  srv.close();
  let dups = 0;
  for (const c of srv.seqs.values()) dups += c - 1;
  return { lines: M, lost: M - srv.seqs.size, duplicates: dups };
}

async function main(): Promise<void> {
  const dir = tempDir('bench-logs-input-');
  const input = join(dir, 'input.log');
  writeInput(input, 0, N);
  const inputMiB = +(statSync(input).size / MiB).toFixed(1);

  const only = process.env.BENCH_ONLY?.split(',');
  const want = (part: string) => !only || only.includes(part);
  const rsyslog = want('rsyslog') ? await rsyslogBaseline(input, N) : { skipped: 'BENCH_ONLY' };
  const raw = want('raw') ? await measureAgent(input, [{ type: 'blackhole', name: 'blackhole' }], [], 'blackhole', N) : undefined;
  let parsed;
  if (want('parsed')) {
    const srv = await countingServer(false);
    parsed = await measureAgent(input, [{ type: 'http', name: 'http', url: `http://127.0.0.1:${srv.port}/`, format: 'json', batchMaxRecords: 1000 }], [{ type: 'json' }], 'http', N);
    srv.close();
  }
  const loss = want('loss') ? await lossScenario() : undefined;
  const ratio = (a: number | undefined, b: number | undefined) => (a && b ? +(a / b).toFixed(2) : null);
  const rs = 'mibPerSec' in rsyslog ? rsyslog.mibPerSec : undefined;
  console.log(
    JSON.stringify({
      bench: 'logs',
      date: new Date().toISOString(),
      cpus: (await import('node:os')).cpus().length,
      lines: N,
      inputMiB,
      raw,
      parsed,
      rsyslog,
      rawVsRsyslog: ratio(raw?.mibPerSec, rs),
      parsedVsRsyslog: ratio(parsed?.mibPerSec, rs),
      loss,
    }),
  );
}

try {
  await main();
} finally {
  for (const d of tempDirs) rmSync(d, { recursive: true, force: true });
}
