// Test harness for the whole platform: copies an example to a temp dir with unique ports, runs the
// real `berth` CLI as a child process, and waits on conditions with deadlines (never bare sleeps).
import { spawn, type ChildProcess } from 'node:child_process';
import { chownSync, cpSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import http from 'node:http';

export const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '../../../..');
export const berthBin = join(repoRoot, 'bin', 'berth.js');

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs `berth ARGS…` in `cwd` and collects its output. */
export function berth(cwd: string, args: string[], opts: { timeoutMs?: number; env?: Record<string, string> } = {}): Promise<RunResult> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(process.execPath, [berthBin, ...args], { cwd, env: { ...process.env, NO_COLOR: '1', ...opts.env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`berth ${args.join(' ')} timed out\nstdout: ${stdout}\nstderr: ${stderr}`));
    }, opts.timeoutMs ?? 90_000);
    child.on('exit', (code) => {
      clearTimeout(timer);
      resolvePromise({ code: code ?? 1, stdout, stderr });
    });
  });
}

/** Like berth(), but fails the test on a non-zero exit. */
export async function berthOk(cwd: string, args: string[], opts?: { timeoutMs?: number }): Promise<RunResult> {
  const r = await berth(cwd, args, opts);
  if (r.code !== 0) throw new Error(`berth ${args.join(' ')} exited ${r.code}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`);
  return r;
}

export function spawnBerth(cwd: string, args: string[], env: Record<string, string> = {}): ChildProcess {
  return spawn(process.execPath, [berthBin, ...args], { cwd, env: { ...process.env, NO_COLOR: '1', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
}

export type { PsRow } from '../../../src/control/index.js';
import type { PsRow } from '../../../src/control/index.js';

export async function ps(cwd: string, all = false): Promise<PsRow[]> {
  const r = await berthOk(cwd, ['ps', '--json', ...(all ? ['--all'] : [])]);
  return JSON.parse(r.stdout) as PsRow[];
}

export interface EventRow {
  seq: number;
  at: string;
  type: string;
  reason: string;
  message: string;
  service?: string;
  instance?: string;
  node?: string;
}

export async function events(cwd: string): Promise<EventRow[]> {
  return JSON.parse((await berthOk(cwd, ['events', '--json'])).stdout) as EventRow[];
}

/** Polls `fn` until it returns a truthy value or the deadline passes (then throws with the last value/error). */
export async function waitFor<T>(what: string, fn: () => Promise<T | undefined | false> | T | undefined | false, timeoutMs = 20_000, intervalMs = 100): Promise<T> {
  const deadline = performance.now() + timeoutMs;
  let last: unknown;
  while (performance.now() < deadline) {
    try {
      const v = await fn();
      if (v) return v;
      last = v;
    } catch (err) {
      last = err;
    }
    await new Promise((r) => setTimeout(r, intervalMs));
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}; last: ${last instanceof Error ? last.message : JSON.stringify(last)}`);
}

/** Port blocks of 50 between 20000 and 30000 (below the ephemeral range), claimed across test processes. */
const BLOCK = 50;
const BLOCKS = 200;
const claimDir = join(tmpdir(), 'berth-test-ports');
const claimed: string[] = [];
process.on('exit', () => {
  for (const f of claimed) rmSync(f, { force: true });
});

/** Claims a block for this process with an exclusive file (a dead owner's claim is taken over). */
function claim(base: number): boolean {
  const file = join(claimDir, String(base));
  for (let i = 0; i < 2; i++) {
    try {
      writeFileSync(file, String(process.pid), { flag: 'wx' });
      claimed.push(file);
      return true;
    } catch {
      const owner = Number(readFileSync(file, 'utf8').trim() || '0');
      if (owner === process.pid || processAlive(owner)) return false;
      rmSync(file, { force: true });
    }
  }
  return false;
}

/**
 * A block of `n` consecutive ports for one test's services. Test files run in parallel processes,
 * so a block is claimed (a file per block under the temp dir) instead of picked at random: two
 * files never get the same ports (a collision once let one test talk to another test's service).
 */
export function portBlock(n = 5): number {
  if (n > BLOCK) throw new Error(`portBlock(${n}): at most ${BLOCK} ports per block`);
  mkdirSync(claimDir, { recursive: true });
  const start = Math.floor(Math.random() * BLOCKS);
  for (let i = 0; i < BLOCKS; i++) {
    const base = 20000 + ((start + i) % BLOCKS) * BLOCK;
    if (claim(base)) return base;
  }
  throw new Error('no free port block: every block under 20000–30000 is claimed by a live test process');
}

/**
 * When the tests run as root, Berth runs apps as `nobody` by default (docs/security.md): the app's
 * folder is handed to that user, as a deployment would give an app its own directory, so apps can
 * read their code and write their files. (Test-only: in real use keep the spec's folder, which holds
 * .berth/, your own and give the app a `cwd:` it owns.)
 */
export function giveToAppUser(dir: string): string {
  if (process.getuid?.() !== 0) return dir;
  const [uid, gid] = readFileSync('/etc/passwd', 'utf8').split('\n').find((l) => l.startsWith('nobody:'))?.split(':').slice(2, 4).map(Number) ?? [65534, 65534];
  const visit = (p: string) => {
    const st = lstatSync(p);
    if (st.isSymbolicLink() || p.endsWith('/.berth')) return;
    chownSync(p, uid, gid);
    if (st.isDirectory()) for (const n of readdirSync(p)) visit(join(p, n));
  };
  visit(dir);
  return dir;
}

/** Copies examples/shop to a temp dir, moving its ports 8080/8081/8082 to base, base+1, base+2. */
export function copyShop(): { dir: string; web: number; orders: number; inventory: number } {
  const dir = mkdtempSync(join(tmpdir(), 'berth-shop-'));
  cpSync(join(repoRoot, 'examples', 'shop'), dir, { recursive: true, filter: (src) => !src.includes('.berth') });
  const base = portBlock(3);
  const file = join(dir, 'berth.yaml');
  const text = readFileSync(file, 'utf8').replace(/\b8080\b/g, String(base)).replace(/\b8081\b/g, String(base + 1)).replace(/\b8082\b/g, String(base + 2));
  writeFileSync(file, text);
  giveToAppUser(dir);
  return { dir, web: base, orders: base + 1, inventory: base + 2 };
}

/** Writes a spec (and optional files) into a fresh temp dir. */
export function tempApp(files: Record<string, string>): string {
  const dir = mkdtempSync(join(tmpdir(), 'berth-app-'));
  for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, name), text);
  return giveToAppUser(dir);
}

export interface HttpReply {
  status: number;
  body: string;
}

/** One HTTP request on a fresh connection (no keep-alive), with a timeout. */
export function httpRequest(url: string, method = 'GET', timeoutMs = 5000): Promise<HttpReply> {
  return new Promise((resolvePromise, reject) => {
    const req = http.request(url, { method, agent: false, timeout: timeoutMs }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (body += d));
      res.on('end', () => resolvePromise({ status: res.statusCode ?? 0, body }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
    req.end();
  });
}

/** True when the process exists and is not a zombie. */
export function processAlive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
    return state !== 'Z' && state !== 'X';
  } catch {
    return false;
  }
}

/** Requests in a loop against an app that answers `{ version }` JSON: what a rollout test counts. */
export interface VersionedLoad {
  /** 200 answers so far. */
  readonly ok: () => number;
  readonly failures: string[];
  readonly versions: Set<string>;
  /** Stops the loop and waits for the requests in flight. */
  stop(): Promise<void>;
}

/**
 * Starts `workers` request loops against `url` (3 s timeout each), counting 200s, the versions they
 * name and every failure (status or error). Stops by itself after 1,000 failures: a broken address
 * must not spin forever.
 */
export function versionedLoad(url: string, workers = 1): VersionedLoad {
  let stopped = false;
  let ok = 0;
  const failures: string[] = [];
  const versions = new Set<string>();
  const loops = Array.from({ length: workers }, async () => {
    while (!stopped) {
      try {
        const r = await httpRequest(url, 'GET', 3000);
        if (r.status === 200) {
          ok++;
          versions.add((JSON.parse(r.body) as { version: string }).version);
        } else failures.push(`status ${r.status}: ${r.body.slice(0, 100)}`);
      } catch (err) {
        failures.push((err as Error).message);
        if (failures.length > 1000) stopped = true;
      }
    }
  });
  return {
    ok: () => ok,
    failures,
    versions,
    stop: async () => {
      stopped = true;
      await Promise.all(loops);
    },
  };
}
