// Malformed specs kept as data: each fixture declares the errors it must produce in header
// comments (`# expect: LINE:COL PATH ~ message fragment`, optional `# env: NAME`).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadSpec, validateSpecText, formatSpecErrors, type SpecError } from '../../../src/contract/index.js';
import { FIXTURES } from './helpers.js';

interface Expectation {
  line: number;
  col: number;
  path: string;
  fragment?: string;
}

function expectations(text: string): { env?: string; expect: Expectation[] } {
  const expect: Expectation[] = [];
  let env: string | undefined;
  for (const l of text.split('\n')) {
    const e = /^#\s*env:\s*(\S+)/.exec(l);
    if (e) env = e[1];
    const m = /^#\s*expect:\s*(\d+):(\d+)(?:\s+([^\s~]+))?(?:\s*~\s*(.+))?$/.exec(l);
    if (m) expect.push({ line: Number(m[1]), col: Number(m[2]), path: m[3] ?? '', fragment: m[4]?.trim() });
  }
  return { env, expect };
}

const invalidDir = join(FIXTURES, 'invalid');
const files = readdirSync(invalidDir).filter((f) => f.endsWith('.yaml')).sort();

test('there are at least 20 invalid fixtures', () => {
  assert.ok(files.length >= 20, `only ${files.length} fixtures`);
});

for (const name of files) {
  test(`invalid fixture ${name}`, async () => {
    const file = join(invalidDir, name);
    const text = readFileSync(file, 'utf8');
    const { env, expect } = expectations(text);
    assert.ok(expect.length > 0, `${name} declares no expected errors`);
    const r = await loadSpec(file, { env });
    assert.equal(r.ok, false, `${name} should not validate`);
    if (r.ok) return;
    const got = r.errors.map((e) => `${e.line}:${e.col} ${e.path}`);
    const want = expect.map((e) => `${e.line}:${e.col} ${e.path}`);
    assert.deepEqual(got.slice().sort(), want.slice().sort(), `errors of ${name}:\n${formatSpecErrors(r.errors)}`);
    for (const x of expect) {
      if (!x.fragment) continue;
      const e: SpecError | undefined = r.errors.find((er) => er.line === x.line && er.col === x.col && er.path === x.path);
      assert.ok(e, `no error at ${x.line}:${x.col} ${x.path}`);
      const text = `${e.message} (${e.hint ?? ''})`;
      assert.ok(text.includes(x.fragment), `${name}: "${text}" should mention "${x.fragment}"`);
      assert.equal(e.file, file);
    }
    // validateSpecText gives the same answer as loadSpec.
    const again = validateSpecText(text, file, { env });
    assert.deepEqual(again, r);
  });
}

test('the full valid fixture validates, with every field present', async () => {
  const r = await loadSpec(join(FIXTURES, 'valid/full.yaml'));
  assert.ok(r.ok, r.ok ? '' : formatSpecErrors(r.errors));
  assert.deepEqual(r.warnings, []);
  const web = r.spec.services.web;
  assert.equal(web.replicas, 2);
  assert.equal(web.envFile, '.env');
  assert.deepEqual(web.dependsOn, { orders: 'ready' });
  assert.equal(web.sidecars[0].name, 'tick');
  assert.equal(web.probes.startup?.failureThreshold, 20);
  assert.equal(web.resources.memoryMiB, 256);
});

test('the full valid fixture with the prod overlay', async () => {
  const r = await loadSpec(join(FIXTURES, 'valid/full.yaml'), { env: 'prod' });
  assert.ok(r.ok, r.ok ? '' : formatSpecErrors(r.errors));
  assert.equal(r.spec.services.web.replicas, 4);
  assert.equal(r.spec.services.web.port, 8080);
});
