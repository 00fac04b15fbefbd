// Every malformed spec in test/fixtures/specs/invalid, through the real CLI: `berth up` and
// `berth validate` exit 2, print each expected problem as file:line:col with its path, and start
// nothing (no control plane, no .berth/ state).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cpSync, existsSync, mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { berth, repoRoot } from './harness/berth.js';

const fixtures = join(repoRoot, 'test', 'fixtures', 'specs', 'invalid');
const files = readdirSync(fixtures).filter((f) => f.endsWith('.yaml')).sort();

test('at least 20 malformed specs are covered', () => {
  assert.ok(files.length >= 20, `${files.length} fixtures`);
});

for (const name of files) {
  test(`berth up rejects ${name} with positions and starts nothing`, async () => {
    const text = readFileSync(join(fixtures, name), 'utf8');
    const env = /^# env: (\S+)/m.exec(text)?.[1];
    const expects = [...text.matchAll(/^# expect: (\d+):(\d+) (\S+)/gm)].map((m) => ({ line: m[1], col: m[2], path: m[3] }));
    const dir = mkdtempSync(join(tmpdir(), 'berth-invalid-'));
    cpSync(join(fixtures, name), join(dir, 'berth.yaml'));
    const args = ['up', '-d', ...(env ? ['--env', env] : [])];
    const r = await berth(dir, args, { timeoutMs: 30_000 });
    assert.equal(r.code, 2, `exit code for ${name}: ${r.stdout}${r.stderr}`);
    for (const e of expects) {
      assert.ok(r.stderr.includes(`berth.yaml:${e.line}:${e.col}`), `${name}: expected position ${e.line}:${e.col} in\n${r.stderr}`);
      if (e.path !== '~') assert.ok(r.stderr.includes(e.path), `${name}: expected path ${e.path} in\n${r.stderr}`);
    }
    assert.equal(existsSync(join(dir, '.berth')), false, 'nothing started');
    assert.doesNotMatch(r.stderr, /\n\s+at .+\(.+:\d+:\d+\)/, 'no stack trace');
  });
}

test('berth validate --json reports the errors and exits 2', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'berth-invalid-'));
  cpSync(join(fixtures, 'unknown-key.yaml'), join(dir, 'berth.yaml'));
  const r = await berth(dir, ['validate', '--json']);
  assert.equal(r.code, 2);
  const out = JSON.parse(r.stdout) as { ok: boolean; errors: { line: number; col: number; path: string; message: string }[] };
  assert.equal(out.ok, false);
  assert.ok(out.errors.length > 0 && out.errors.every((e) => e.line > 0 && e.path && e.message));
});

test('a missing spec is a usage error with a hint', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'berth-empty-'));
  const r = await berth(dir, ['up', '-d']);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /berth init/);
});

test('berth init creates a spec that validates', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'berth-init-'));
  assert.equal((await berth(dir, ['init', 'demo'])).code, 0);
  const v = await berth(join(dir, 'demo'), ['validate']);
  assert.equal(v.code, 0, v.stderr);
  assert.equal((await berth(dir, ['init', 'demo'])).code, 2, 'refuses to overwrite');
});

test('usage errors exit 2; --help exits 0 on every command', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'berth-usage-'));
  assert.equal((await berth(dir, ['nope'])).code, 2);
  assert.equal((await berth(dir, ['up', '--bogus'])).code, 2);
  for (const cmd of ['init', 'validate', 'schema', 'up', 'apply', 'ls', 'ps', 'logs', 'events', 'scale', 'restart', 'exec', 'down', 'history']) {
    const r = await berth(dir, [cmd, '--help']);
    assert.equal(r.code, 0, `${cmd} --help`);
    assert.match(r.stdout, /Usage: berth/);
  }
  const s = await berth(dir, ['schema']);
  assert.equal(s.code, 0);
  assert.equal((JSON.parse(s.stdout) as { type: string }).type, 'object');
});
