// The inotify-limit fallback of `berth up --watch`, for real: a child process whose file descriptors
// are used up (RLIMIT_NOFILE via `ulimit -n`, then /dev/null opened until EMFILE) cannot create its
// inotify instance, exactly as when fs.inotify.max_user_instances is reached; the watcher must say so
// and poll instead, and still see a saved file once descriptors are free again.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { repoRoot } from '../../integration/harness/berth.js';

const child = (watcher: string, dir: string) => `
import { openSync, closeSync, writeFileSync } from 'node:fs';
import { watchTree } from ${JSON.stringify(watcher)};
const fds = [];
try { for (;;) fds.push(openSync('/dev/null', 'r')); } catch (e) { if (e.code !== 'EMFILE') throw e; }
let fallback = '';
const seen = [];
const w = watchTree([{ path: ${JSON.stringify(dir)}, ignored: () => false }], { onChange: (p) => seen.push(p), onFallback: (m) => (fallback = m), pollMs: 50 });
for (const fd of fds) closeSync(fd);
setTimeout(() => writeFileSync(${JSON.stringify(join(dir, 'a.js'))}, 'changed'), 200);
setTimeout(() => { w.close(); console.log(JSON.stringify({ mode: w.mode(), fallback, seen })); }, 1500);
`;

test('watchTree falls back to polling, saying why, when inotify cannot be had (EMFILE)', { skip: process.platform !== 'linux' }, () => {
  const dir = mkdtempSync(join(tmpdir(), 'berth-watch-limit-'));
  try {
    writeFileSync(join(dir, 'a.js'), 'v1');
    const script = join(dir, 'child.mjs');
    writeFileSync(script, child(join(repoRoot, 'dist/src/cli/watch/tree-watcher.js'), dir));
    const out = execFileSync('sh', ['-c', `ulimit -n 64 && exec "${process.execPath}" "${script}"`], { timeout: 20_000 }).toString();
    const r = JSON.parse(out.trim().split('\n').pop()!) as { mode: string; fallback: string; seen: string[] };
    assert.equal(r.mode, 'poll');
    assert.match(r.fallback, /max_user_instances.*polling instead/);
    assert.ok(r.seen.includes(join(dir, 'a.js')), `the save seen by polling: ${r.seen.join(', ')}`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
