// The watcher behind `berth up --watch`: file events for saved, new and renamed-over files (one watch
// per folder, ignored folders unwatched), and the polling fallback used when inotify's limits are hit.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { watchTree } from '../../../src/cli/watch/tree-watcher.js';
import { ignoreTest } from '../../../src/lib/source-digest.js';

async function until(what: string, fn: () => boolean, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (fn()) return;
    await new Promise((r) => setTimeout(r, 20));
  }
  assert.fail(`timed out waiting for ${what}`);
}

for (const forcePoll of [false, true]) {
  test(`watchTree (${forcePoll ? 'polling fallback' : 'file events'}): saves, new files in new folders, atomic renames; ignored folders stay quiet`, async () => {
    const dir = mkdtempSync(join(tmpdir(), 'berth-watch-'));
    mkdirSync(join(dir, 'src'));
    mkdirSync(join(dir, 'node_modules', 'dep'), { recursive: true });
    writeFileSync(join(dir, 'src', 'a.js'), '1');
    const seen: string[] = [];
    const w = watchTree([{ path: dir, ignored: ignoreTest(dir, { paths: [dir], ignore: [], specDir: dir }) }], { onChange: (p) => seen.push(p.slice(dir.length + 1)), forcePoll, pollMs: 50 });
    try {
      assert.equal(w.mode(), forcePoll ? 'poll' : 'native');
      if (!forcePoll && process.platform === 'linux') assert.equal(w.watches(), 2, 'one watch per folder, node_modules not watched');
      await new Promise((r) => setTimeout(r, 100));
      writeFileSync(join(dir, 'src', 'a.js'), '2');
      await until('a.js saved', () => seen.includes('src/a.js'));
      writeFileSync(join(dir, 'node_modules', 'dep', 'x.js'), 'x');
      mkdirSync(join(dir, 'src', 'sub'));
      await new Promise((r) => setTimeout(r, 150));
      writeFileSync(join(dir, 'src', 'sub', 'b.js'), 'b');
      await until('a file in a new folder', () => seen.includes('src/sub/b.js'));
      writeFileSync(join(dir, 'src', '.a.js.swp'), '3');
      renameSync(join(dir, 'src', '.a.js.swp'), join(dir, 'src', 'a.js'));
      const n = seen.filter((s) => s === 'src/a.js').length;
      await until('a save by rename', () => seen.filter((s) => s === 'src/a.js').length > n);
      assert.equal(seen.some((s) => s.startsWith('node_modules')), false, `ignored: ${seen.join(', ')}`);
    } finally {
      w.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
}
