// Fuzzing: random mutations and truncations of a valid spec never make validation throw, and
// every problem comes back with a position inside the file.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { validateSpecText, loadSpec } from '../../../src/contract/index.js';
import { FIXTURES, tempDir } from './helpers.js';
import { rng } from '../../helpers/seeded-random.js';


const PIECES = [':', ' ', '\n', '  ', '-', '[', ']', '{', '}', ',', '"', "'", '#', '&a', '*a', '<<', '!!str', '0', '-1', '99999', 'null', 'true', '~', '|', '>', '\t', 'web', 'orders', 'run', 'port', 'replicas', 'probes', 'http', 'tcp', '%', '---', '..', 'é', '\u0000'];

function mutate(text: string, r: () => number): string {
  let t = text;
  const n = 1 + Math.floor(r() * 4);
  for (let i = 0; i < n; i++) {
    const pos = Math.floor(r() * (t.length + 1));
    const op = Math.floor(r() * 6);
    if (op === 0) t = t.slice(0, pos); // truncate
    else if (op === 1) t = t.slice(0, pos) + t.slice(pos + 1 + Math.floor(r() * 20)); // delete a span
    else if (op === 2) t = t.slice(0, pos) + PIECES[Math.floor(r() * PIECES.length)] + t.slice(pos); // insert
    else if (op === 3) {
      const lines = t.split('\n');
      const a = Math.floor(r() * lines.length);
      const b = Math.floor(r() * lines.length);
      [lines[a], lines[b]] = [lines[b], lines[a]];
      t = lines.join('\n');
    } else if (op === 4) {
      const lines = t.split('\n');
      const a = Math.floor(r() * lines.length);
      lines.splice(a, 0, lines[Math.floor(r() * lines.length)] ?? '');
      t = lines.join('\n');
    } else t = t.slice(0, pos) + String.fromCharCode(32 + Math.floor(r() * 95)) + t.slice(pos + 1);
  }
  return t;
}

test('random mutations never throw and always yield ok or positioned errors', () => {
  const dir = tempDir({ '.env': 'A=1\n', 'web/.keep': '' });
  const file = join(dir, 'berth.yaml');
  const base = readFileSync(join(FIXTURES, 'valid/full.yaml'), 'utf8');
  const seed = Number(process.env.BERTH_FUZZ_SEED ?? 20240611);
  const r = rng(seed);
  const deadline = Date.now() + 6000;
  let runs = 0;
  let failures = 0;
  for (; runs < 2500 && Date.now() < deadline; runs++) {
    const text = mutate(base, r);
    const env = r() < 0.3 ? 'prod' : undefined;
    let result;
    try {
      result = validateSpecText(text, file, { env });
    } catch (e) {
      assert.fail(`threw on run ${runs} (seed ${seed}): ${String(e)}\n---\n${text}`);
    }
    const lines = text.split('\n').length;
    if (result.ok) {
      assert.ok(result.spec.app && Object.keys(result.spec.services).length > 0);
      continue;
    }
    failures++;
    assert.ok(result.errors.length > 0, 'errors must not be empty');
    for (const e of result.errors) {
      assert.equal(e.file, file);
      assert.ok(typeof e.message === 'string' && e.message.length > 0);
      assert.ok(!e.message.includes('internal error'), `internal error on run ${runs} (seed ${seed}): ${e.message}\n---\n${text}`);
      assert.ok(Number.isInteger(e.line) && e.line >= 1 && e.line <= lines + 1, `line ${e.line} out of range (run ${runs})\n---\n${text}`);
      assert.ok(Number.isInteger(e.col) && e.col >= 1, `col ${e.col} (run ${runs})`);
    }
  }
  assert.ok(runs >= 500, `only ${runs} runs`);
  assert.ok(failures > 0);
});

test('loadSpec never throws on odd inputs', async () => {
  const dir = tempDir({ 'bin.yaml': '\u0000\u0001\u0002', 'list.yaml': '- 1\n- 2\n', 'scalar.yaml': '42\n', 'deep.yaml': `${'['.repeat(2000)}` });
  for (const f of ['bin.yaml', 'list.yaml', 'scalar.yaml', 'deep.yaml', 'missing.yaml', '.']) {
    const r = await loadSpec(join(dir, f));
    assert.equal(r.ok, false, f);
  }
  const bomb = 'a: &a [x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]\nc: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]\nd: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c]\ne: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d]\nf: [*e, *e, *e, *e, *e, *e, *e, *e, *e]\n';
  const r = validateSpecText(bomb, join(dir, 'bomb.yaml'));
  assert.equal(r.ok, false);
});
