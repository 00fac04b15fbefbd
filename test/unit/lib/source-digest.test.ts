// The digest a watched service's revision includes: contents count, ignored files do not (defaults,
// `ignore:` patterns, .gitignore up to the spec's folder), the spec and .env beside it are not code.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { listWatched, sourceDigest, type WatchInput } from '../../../src/lib/source-digest.js';

function project(): { dir: string; input: WatchInput } {
  const dir = mkdtempSync(join(tmpdir(), 'berth-digest-'));
  for (const d of ['src', 'node_modules/x', '.git', '.berth', 'dist', 'src/gen']) mkdirSync(join(dir, d), { recursive: true });
  writeFileSync(join(dir, 'src', 'app.js'), 'v1');
  writeFileSync(join(dir, 'node_modules', 'x', 'i.js'), 'dep');
  writeFileSync(join(dir, '.git', 'HEAD'), 'ref');
  writeFileSync(join(dir, '.berth', 'state'), 's');
  writeFileSync(join(dir, 'dist', 'out.js'), 'built');
  writeFileSync(join(dir, 'src', 'gen', 'g.js'), 'generated');
  writeFileSync(join(dir, 'src', 'a.tmp'), 'tmp');
  writeFileSync(join(dir, '.gitignore'), 'dist/\n*.tmp\n');
  writeFileSync(join(dir, 'berth.yaml'), 'app: x\n');
  writeFileSync(join(dir, '.env'), 'A=1\n');
  return { dir, input: { paths: [dir], ignore: ['src/gen'], specDir: dir } };
}

test('listWatched skips the default folders, .gitignore patterns, ignore: patterns and the spec files', () => {
  const { dir, input } = project();
  try {
    const { files, dirs } = listWatched(input);
    assert.deepEqual(files.map((f) => f.slice(dir.length + 1)), ['.gitignore', 'src/app.js']);
    assert.deepEqual(dirs.map((d) => d.slice(dir.length)).sort(), ['', '/src']);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('sourceDigest changes with a watched file and not with an ignored one', () => {
  const { dir, input } = project();
  try {
    const d1 = sourceDigest(input);
    assert.equal(sourceDigest(input), d1, 'stable');
    for (const f of ['dist/out.js', 'node_modules/x/i.js', 'src/a.tmp', 'src/gen/g.js', 'berth.yaml', '.env', '.berth/state']) {
      writeFileSync(join(dir, f), 'changed');
      assert.equal(sourceDigest(input), d1, `${f} is ignored`);
    }
    writeFileSync(join(dir, 'src', 'app.js'), 'v2');
    const d2 = sourceDigest(input);
    assert.notEqual(d2, d1);
    writeFileSync(join(dir, 'src', 'new.js'), '');
    assert.notEqual(sourceDigest(input), d2, 'a new file counts');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a .gitignore above the watched folder (up to the spec folder) applies relative to its own folder', () => {
  const { dir } = project();
  try {
    writeFileSync(join(dir, '.gitignore'), 'src/*.log\n');
    writeFileSync(join(dir, 'src', 'x.log'), 'log');
    const input = { paths: [join(dir, 'src')], ignore: [], specDir: dir };
    assert.deepEqual(listWatched(input).files.map((f) => f.slice(dir.length + 1)), ['src/a.tmp', 'src/app.js', 'src/gen/g.js']);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
