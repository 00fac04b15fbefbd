// Issue 12 point 8: one control plane per state dir and distinct address blocks per app, even when
// starters race — also when a dead holder left its traces behind (a stale lock socket file, stale
// slot claims), which is where "probe, delete the stale thing, take it" let two racers both win.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { repoRoot, waitFor } from './harness/berth.js';

const controlMain = join(repoRoot, 'dist', 'src', 'control', 'main.js');
const slotsModule = join(repoRoot, 'dist', 'src', 'lib', 'slots.js');

interface Racer {
  child: ChildProcess;
  out: string;
  exited: boolean;
}

function race(n: number, argv: (i: number) => string[], env: Record<string, string>): Racer[] {
  const racers: Racer[] = [];
  for (let i = 0; i < n; i++) {
    const child = spawn(process.execPath, argv(i), { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    const r: Racer = { child, out: '', exited: false };
    child.stdout!.on('data', (d: Buffer) => (r.out += d.toString()));
    child.stderr!.on('data', (d: Buffer) => (r.out += d.toString()));
    child.on('exit', () => (r.exited = true));
    racers.push(r);
  }
  return racers;
}

/** Leaves a Unix socket file whose listener is dead (SIGKILLed), as a crashed control plane did. */
async function staleSocket(path: string): Promise<void> {
  const child = spawn(process.execPath, ['-e', `require('net').createServer().listen(process.argv[1], () => process.kill(process.pid, 'SIGKILL'))`, path], { stdio: 'ignore' });
  await new Promise((r) => child.once('exit', r));
  assert.ok(existsSync(path), 'the stale socket file is left behind');
}

test('racing control-plane starters on one state dir: exactly one runs', async () => {
  const root = mkdtempSync(join(tmpdir(), 'berth-lock-'));
  const stateDir = join(root, '.berth');
  mkdirSync(stateDir, { recursive: true });
  await staleSocket(join(stateDir, 'control.lock'));
  const env = { BERTH_SLOT_REGISTRY: join(root, 'slots') };
  const n = 8;
  const racers = race(n, () => [controlMain, '--state-dir', stateDir], env);
  after(() => {
    for (const r of racers) if (!r.exited) r.child.kill('SIGKILL');
    rmSync(root, { recursive: true, force: true });
  });
  // Every starter either gives up or reaches "listening"; then exactly one must be left running.
  await waitFor('every starter to give up or listen', () => racers.every((r) => r.exited || r.out.includes('control plane listening')), 30_000, 50);
  const running = racers.filter((r) => !r.exited);
  assert.equal(running.length, 1, `running: ${running.length}\n${racers.map((r) => r.out).join('\n---\n')}`);
  for (const r of racers.filter((x) => x.exited)) assert.match(r.out, /another control plane is already running/);
  running[0].child.kill('SIGTERM');
  await waitFor('the control plane to exit', () => running[0].exited, 10_000, 50);
});

test('racing slot claimers over stale claims get distinct address blocks', async () => {
  const root = mkdtempSync(join(tmpdir(), 'berth-slots-'));
  const registry = join(root, 'registry');
  mkdirSync(registry);
  const n = 12;
  // Stale claims on the lowest slots (their owners are gone): every claimer wants to take them over.
  for (let s = 1; s <= n; s++) writeFileSync(join(registry, String(s)), join(root, `gone-${s}`) + '\n');
  const dirs = Array.from({ length: n }, (_, i) => join(root, `app-${i}`, '.berth'));
  for (const d of dirs) mkdirSync(d, { recursive: true });
  const script = `const { claimAppSlot } = await import(${JSON.stringify(slotsModule)}); console.log('slot=' + (await claimAppSlot(process.argv[1])));`;
  const racers = race(n, (i) => ['--input-type=module', '-e', script, dirs[i]], { BERTH_SLOT_REGISTRY: registry });
  after(() => {
    for (const r of racers) if (!r.exited) r.child.kill('SIGKILL');
    rmSync(root, { recursive: true, force: true });
  });
  await waitFor('every claimer to finish', () => racers.every((r) => r.exited), 30_000, 20);
  const slots = racers.map((r) => Number(/slot=(\d+)/.exec(r.out)?.[1] ?? NaN));
  assert.ok(slots.every((s) => Number.isInteger(s)), racers.map((r) => r.out).join('\n'));
  assert.equal(new Set(slots).size, n, `slots: ${slots.join(',')}`);
});
