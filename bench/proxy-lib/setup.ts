// The processes the proxy benchmarks compare, started the same way for each bench: a Berth sidecar
// pair (outbound → inbound, the mesh's app → app hop, from a saved snapshot), an nginx pair (two
// reverse-proxy hops with keep-alive upstreams) and helpers to wait for them, run wrk and read a
// process's CPU and RSS. Every child is killed by killAll().
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { PROXY_ENV, PROXY_NODE_FLAGS, type MeshRecording, type MeshTracing } from '../../src/lib/mesh-protocol.js';

const here = dirname(fileURLToPath(import.meta.url));
const proxyMain = join(here, '..', '..', 'src', 'sidecar', 'proxy', 'main.js');
/** Node flags for the two proxies (default: the ones the platform starts them with, see src/plan/sidecars/proxy.ts). */
const PROXY_FLAGS = (process.env.BENCH_PROXY_NODE_FLAGS ?? PROXY_NODE_FLAGS.join(' ')).split(' ').filter(Boolean);
export const HOST = '127.0.0.1';

const children: ChildProcess[] = [];
export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
export const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

export function cpuTicks(pid: number): number {
  const s = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = s.slice(s.lastIndexOf(')') + 2).split(' ');
  return Number(f[11]) + Number(f[12]);
}

/** A `<field>: <n> kB` line of a /proc file of `pid`, in MB (one decimal); NaN when it is missing. */
function procMB(pid: number, file: string, field: string): number {
  const m = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(readFileSync(`/proc/${pid}/${file}`, 'utf8'));
  return m ? Math.round(Number(m[1]) / 102.4) / 10 : NaN;
}

export function rssMB(pid: number): number {
  return procMB(pid, 'status', 'VmRSS');
}

/**
 * A process's anonymous (private) memory: RSS less the pages mapped from files. About 41 MB of a
 * sidecar's RSS is the node binary's own pages, shared by every Node process on the machine.
 */
export function anonMB(pid: number): number {
  return procMB(pid, 'smaps_rollup', 'Anonymous');
}

/** Waits until `url` answers 200 (`ms` at most, 5 s by default). */
export async function until(url: string, ms = 5000): Promise<void> {
  for (let i = 0; i < ms / 50; i++) {
    const ok = await new Promise<boolean>((r) => http.get(url, { agent: false }, (res) => (res.resume(), r(res.statusCode === 200))).on('error', () => r(false)));
    if (ok) return;
    await sleep(50);
  }
  throw new Error(`${url} never answered 200`);
}

export function start(cmd: string, args: string[], env: Record<string, string> = {}): ChildProcess {
  const c = spawn(cmd, args, { env: { ...process.env, ...env }, stdio: ['ignore', 'ignore', 'inherit'] });
  children.push(c);
  return c;
}

export function killAll(): void {
  // nginx's master is stopped with SIGTERM: killed with SIGKILL it leaves its worker running,
  // still listening, and the next run's nginx pair could not bind (it measured the orphan instead).
  for (const c of children) c.kill(c.spawnfile === 'nginx' ? 'SIGTERM' : 'SIGKILL');
}

export function requireTools(...tools: string[]): void {
  for (const tool of tools) {
    if (spawnSync('sh', ['-c', `command -v ${tool}`]).status !== 0) throw new Error(`${tool} is not installed (apt-get install -y wrk nginx)`);
  }
}

/** Saturation: wrk's requests per second (`extra` adds e.g. `-s script.lua`). */
export function wrk(url: string, seconds: number, connections = 50, extra: string[] = []): number {
  const r = spawnSync('wrk', ['-t1', `-c${connections}`, `-d${seconds}s`, ...extra, url], { encoding: 'utf8' });
  const m = /Requests\/sec:\s+([\d.]+)/.exec(r.stdout);
  if (!m) throw new Error(`wrk failed: ${r.stderr || r.stdout}`);
  if (/Non-2xx or 3xx responses/.test(r.stdout) || /Socket errors/.test(r.stdout)) process.stderr.write(`wrk ${url}: ${r.stdout}`);
  return Number(m[1]);
}

export interface SidecarPair {
  readonly a: ChildProcess;
  readonly b: ChildProcess;
  /** The outbound listener of `a`: a request here crosses both sidecars to the origin. */
  readonly url: string;
  /** b's admin listener (its /metrics). */
  readonly bAdmin?: string;
  readonly stateDir?: string;
}

/** Two Berth sidecars in front of `originPort`; `base` is the first of 7 ports they use. */
export async function berthPair(opts: {
  base: number;
  originPort: number;
  accessLog: boolean;
  recording?: MeshRecording;
  proxyMain?: string;
  /** Spec `mesh.tracing` in the snapshot. */
  tracing?: MeshTracing;
  /** A control plane (stand-in) on this port: written to control.json with a token, as `berth up` does. */
  controlPort?: number;
  /** Node flags for both sidecars (default: PROXY_FLAGS, the platform's). */
  nodeFlags?: string[];
  /** A command a sidecar runs under (e.g. valgrind and its options), with extra Node flags and environment for it. */
  wrap?: Partial<Record<'a' | 'b', { command: string[]; nodeFlags?: string[]; env?: Record<string, string> }>>;
}): Promise<SidecarPair> {
  const p = { aOut: opts.base + 1, bIn: opts.base + 2, aIn: opts.base + 3, aApp: opts.base + 4, aAdmin: opts.base + 5, bAdmin: opts.base + 6 };
  const state = mkdtempSync(join(tmpdir(), 'berth-bench-'));
  mkdirSync(join(state, 'mesh'));
  const snap = { version: 1, app: 'bench', config: { accessLog: opts.accessLog, ...(opts.recording ? { recordings: { b: opts.recording } } : {}), ...(opts.tracing ? { tracing: opts.tracing } : {}) }, services: [{ name: 'b', port: p.bIn, endpoints: [{ id: 'b-1', host: HOST, port: p.bIn, variant: 'default' }] }] };
  writeFileSync(join(state, 'mesh', 'a-1.json'), JSON.stringify(snap));
  writeFileSync(join(state, 'mesh', 'b-1.json'), JSON.stringify(snap));
  if (opts.controlPort !== undefined) {
    writeFileSync(join(state, 'control.json'), JSON.stringify({ pid: process.pid, startTime: Date.now(), port: opts.controlPort, app: 'bench' }));
    writeFileSync(join(state, 'token'), 'bench-token\n');
  }
  const common = { ...PROXY_ENV, BERTH_PROXY_MODE: 'sidecar', BERTH_STATE_DIR: state, HOST };
  const main = opts.proxyMain ?? proxyMain;
  const flags = opts.nodeFlags ?? PROXY_FLAGS;
  const launch = (which: 'a' | 'b', env: Record<string, string>): ChildProcess => {
    const w = opts.wrap?.[which];
    const node = [process.execPath, ...flags, ...(w?.nodeFlags ?? []), main];
    const argv = w ? [...w.command, ...node] : node;
    return start(argv[0], argv.slice(1), { ...common, ...w?.env, ...env });
  };
  const b = launch('b', { BERTH_INSTANCE: 'b-1', BERTH_SERVICE: 'b', BERTH_PROXY_PORT: String(p.bIn), BERTH_PROXY_APP_PORT: String(opts.originPort), BERTH_PROXY_ADMIN_PORT: String(p.bAdmin) });
  const a = launch('a', { BERTH_INSTANCE: 'a-1', BERTH_SERVICE: 'a', BERTH_PROXY_PORT: String(p.aIn), BERTH_PROXY_APP_PORT: String(p.aApp), BERTH_PROXY_ADMIN_PORT: String(p.aAdmin), BERTH_PROXY_OUTBOUND: `b=${p.aOut}` });
  const url = `http://${HOST}:${p.aOut}/`;
  // A sidecar under valgrind takes seconds to start.
  await until(url, opts.wrap ? 120_000 : 5000);
  return { a, b, url, bAdmin: `http://${HOST}:${p.bAdmin}`, stateDir: state };
}

/**
 * Two bare TCP relays (A on `portA` → B on `portB` → origin): each client connection gets one
 * upstream connection and the bytes are piped both ways, no HTTP parsed. What a Node process moves
 * with no proxy work at all: the ceiling for any Node data plane on the machine, in the same run.
 */
export function bareRelayPair(opts: { portA: number; portB: number; originPort: number }): void {
  const relay = (listen: number, target: number): string => `
const net = require('node:net');
net.createServer({ noDelay: true }, (c) => {
  const u = net.connect({ host: '${HOST}', port: ${target}, noDelay: true });
  c.pipe(u);
  u.pipe(c);
  c.on('error', () => u.destroy());
  u.on('error', () => c.destroy());
  c.on('close', () => u.destroy());
  u.on('close', () => c.destroy());
}).listen(${listen}, '${HOST}');`;
  start(process.execPath, [...PROXY_FLAGS, '-e', relay(opts.portB, opts.originPort)], PROXY_ENV);
  start(process.execPath, [...PROXY_FLAGS, '-e', relay(opts.portA, opts.portB)], PROXY_ENV);
}

/** Two nginx reverse-proxy hops (A on `portA` → B on `portB` → origin); `httpExtra` goes into each http block. */
export function nginxPair(opts: { portA: number; portB: number; originPort: number; httpExtra?: string }): ChildProcess[] {
  const dir = mkdtempSync(join(tmpdir(), 'berth-bench-nginx-'));
  const conf = (name: string, listen: number, upstream: number) => {
    const file = join(dir, `${name}.conf`);
    writeFileSync(
      file,
      `daemon off; worker_processes 1; pid ${dir}/${name}.pid; error_log ${dir}/${name}.err;
events { worker_connections 4096; }
http { access_log off; client_body_temp_path ${dir}/${name}-body; proxy_temp_path ${dir}/${name}-proxy; fastcgi_temp_path ${dir}/${name}-fcgi; uwsgi_temp_path ${dir}/${name}-uwsgi; scgi_temp_path ${dir}/${name}-scgi;
  ${opts.httpExtra ?? ''}
  upstream up { server ${HOST}:${upstream}; keepalive 64; }
  server { listen ${HOST}:${listen}; location / { proxy_pass http://up; proxy_http_version 1.1; proxy_set_header Connection ""; } } }
`,
    );
    return file;
  };
  return [start('nginx', ['-c', conf('b', opts.portB, opts.originPort), '-p', dir]), start('nginx', ['-c', conf('a', opts.portA, opts.portB), '-p', dir])];
}

/**
 * The worker processes of nginx masters (one each, worker_processes 1): the ones doing the work.
 * Throws when a master has none: it could not bind, and whatever answered on its port (a leftover
 * nginx of an earlier run) is not what this run meant to measure.
 */
export async function nginxWorkers(masters: ChildProcess[]): Promise<number[]> {
  const worker = (m: ChildProcess): number => Number(spawnSync('pgrep', ['-P', String(m.pid)], { encoding: 'utf8' }).stdout.trim().split('\n')[0]);
  for (let i = 0; i < 20 && masters.some((m) => worker(m) === 0); i++) await sleep(50);
  const pids = masters.map(worker);
  if (pids.includes(0)) throw new Error('nginx did not start: its port is taken (a leftover nginx worker of an earlier run?); set BENCH_PORT');
  return pids;
}
