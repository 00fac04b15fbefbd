// The embedded default store is one SQLite file that every instance of a service opens (each
// in its own proxy process). Real processes racing on it: ETag-checked increments never lose an
// update, and of racing first-writes exactly one wins across processes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { openStateStore } from '../../../src/components/index.js';

const COMPONENTS = pathToFileURL(resolve(dirname(fileURLToPath(import.meta.url)), '../../../src/components/index.js')).href;
const PROCESSES = 3;
const INCREMENTS = 150;

const worker = `
import { openStateStore, ETagMismatchError } from ${JSON.stringify(COMPONENTS)};
const [dir, id, n] = process.argv.slice(2);
const store = await openStateStore({ name: 'statestore', type: 'state.sqlite', version: 'v1', metadata: { connectionString: 'state.db', busyTimeout: '10s' }, scopes: [] }, { appId: 'web', baseDir: dir });
// Start together: say ready, wait for the parent's go on stdin.
process.stdout.write('ready\\n');
await new Promise((r) => process.stdin.once('data', r));
process.stdin.pause();
let won = false;
try {
  await store.set({ key: 'owner', value: Buffer.from(JSON.stringify(id)), options: { concurrency: 'first-write' } });
  won = true;
} catch (e) {
  if (!(e instanceof ETagMismatchError)) throw e;
}
let conflicts = 0;
for (let i = 0; i < Number(n); i++) {
  for (;;) {
    const cur = await store.get('counter');
    const next = Buffer.from(String((cur ? Number(cur.value.toString()) : 0) + 1));
    try {
      if (cur) await store.set({ key: 'counter', value: next, etag: cur.etag });
      else await store.set({ key: 'counter', value: next, options: { concurrency: 'first-write' } });
      break;
    } catch (e) {
      if (!(e instanceof ETagMismatchError)) throw e;
      conflicts++;
    }
  }
}
await store.close();
process.stdout.write(JSON.stringify({ won, conflicts }) + '\\n');
`;

interface Worker {
  ready: Promise<void>;
  go(): void;
  done: Promise<{ won: boolean; conflicts: number }>;
}

function startWorker(script: string, dir: string, id: string): Worker {
  const child = spawn(process.execPath, [script, dir, id, String(INCREMENTS)], { stdio: ['pipe', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  let markReady: () => void = () => {};
  const ready = new Promise<void>((r) => (markReady = r));
  child.stdout.on('data', (d: Buffer) => {
    out += d.toString();
    if (out.startsWith('ready\n')) markReady();
  });
  child.stderr.on('data', (d: Buffer) => (err += d.toString()));
  const done = new Promise<{ won: boolean; conflicts: number }>((resolvePromise, reject) => {
    child.on('error', reject);
    child.on('exit', (code) => {
      markReady();
      if (code === 0) resolvePromise(JSON.parse(out.slice('ready\n'.length)) as { won: boolean; conflicts: number });
      else reject(new Error(`worker ${id} exited ${code}: ${err}`));
    });
  });
  return { ready, go: () => child.stdin.end('go\n'), done };
}

test('state.sqlite shared by several processes: no lost update, one first-write winner', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'berth-sqlite-shared-'));
  try {
    const script = join(dir, 'worker.mjs');
    writeFileSync(script, worker);
    const workers = Array.from({ length: PROCESSES }, (_, i) => startWorker(script, dir, `w${i}`));
    await Promise.all(workers.map((w) => w.ready));
    for (const w of workers) w.go();
    const results = await Promise.all(workers.map((w) => w.done));
    assert.equal(results.filter((r) => r.won).length, 1, 'exactly one process won the first-write');
    t.diagnostic(`ETag conflicts retried: ${results.reduce((a, r) => a + r.conflicts, 0)}`);
    const store = await openStateStore({ name: 'statestore', type: 'state.sqlite', version: 'v1', metadata: { connectionString: 'state.db' }, scopes: [] }, { appId: 'web', baseDir: dir });
    assert.equal((await store.get('counter'))?.value.toString(), String(PROCESSES * INCREMENTS), 'every increment counted');
    await store.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
