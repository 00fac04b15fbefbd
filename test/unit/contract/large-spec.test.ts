// Large specs (issue 12 point 15): a 10 MB spec validates within 300 MB (it took 1 GB and ~20 s:
// every key of a mapping was compared with every earlier one, and every error's position was found
// by scanning the services one by one); the cost of a spec full of errors grows linearly with its
// size; and whenever the fast reading of a plain spec decides alone, the positioned parser agrees.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { validateSpecText } from '../../../src/contract/index.js';
import { fastYaml } from '../../../src/contract/fast-yaml.js';
import { FAST_PATH_MIN_BYTES } from '../../../src/contract/load.js';
import { parseYaml } from '../../../src/contract/positions.js';
import { FIXTURES, ROOT, tempDir } from './helpers.js';
import { rng } from '../../helpers/seeded-random.js';
import { generateSpec } from '../../../bench/validate.js';

const file = join(tempDir({}), 'berth.yaml');

test('a generated 10 MB spec validates in one process within 300 MB peak RSS (bench/validate)', () => {
  const r = spawnSync(process.execPath, [join(ROOT, 'dist/bench/validate.js')], { encoding: 'utf8', env: { ...process.env, BERTH_BENCH_VALIDATE_MB: '10' }, timeout: 120_000 });
  assert.equal(r.status, 0, r.stderr);
  const line = JSON.parse(r.stdout.trim()) as { ok: boolean; bytes: number; ms: number; peakRssMiB: number };
  process.stdout.write(`# validate 10 MB: ${JSON.stringify(line)}\n`);
  assert.ok(line.ok, r.stdout);
  assert.ok(line.bytes >= 10 * 1024 * 1024);
  assert.ok(line.peakRssMiB <= 300, `peak RSS ${line.peakRssMiB} MiB`);
});

/** A spec of `n` services, each with one error (a negative replicas count) to be located. */
function withErrors(n: number): string {
  const parts = ['app: big\nservices:\n'];
  for (let i = 0; i < n; i++) parts.push(`  s${i}:\n    run: node s.js\n    replicas: -1\n    env: { A: "1" }\n`);
  return parts.join('');
}

/** CPU milliseconds (not wall time: the machine may be shared) to validate a spec that has errors. */
function msToValidate(text: string): number {
  const before = process.cpuUsage();
  const r = validateSpecText(text, file);
  const used = process.cpuUsage(before);
  assert.equal(r.ok, false);
  return (used.user + used.system) / 1000;
}

/** A spec whose one `env` mapping has `n` keys, each with an error (a list instead of a string). */
function envErrors(n: number): string {
  const parts = ['app: big\nservices:\n  web:\n    run: node web.js\n    env:\n'];
  for (let i = 0; i < n; i++) parts.push(`      K${i}: [${i}]\n`);
  return parts.join('');
}

test('a mapping with many keys and an error at each: the cost grows linearly (16× the keys, well under 256× the time)', () => {
  // Each key used to be compared with every earlier one (duplicate check) and every error's key
  // looked up by scanning the mapping: quadratic, about 30× for 8× the keys.
  const small = envErrors(2000);
  const large = envErrors(32_000);
  msToValidate(small); // warm up
  const smallMs = Math.min(msToValidate(small), msToValidate(small), msToValidate(small));
  const largeMs = msToValidate(large);
  process.stdout.write(`# 2000 keys with errors: ${smallMs.toFixed(0)} ms; 32000: ${largeMs.toFixed(0)} ms\n`);
  assert.ok(largeMs < smallMs * 40, `16× the keys took ${(largeMs / smallMs).toFixed(1)}× the time (linear: 16×, quadratic: 256×)`);
});

test('errors of a spec with thousands of services are each located at their own line', () => {
  const r = validateSpecText(withErrors(8000), file);
  assert.equal(r.ok ? 0 : r.errors.length, 8000);
  if (!r.ok) assert.deepEqual([r.errors[7999].line, r.errors[7999].col, r.errors[7999].path], [4 * 7999 + 5, 15, 'services.s7999.replicas']);
});

test('duplicate keys are still refused, at the repeated key, in large mappings too', () => {
  const text = withErrors(3000).replace(/replicas: -1/g, 'replicas: 1') + '  s17:\n    run: again\n';
  const r = validateSpecText(text, file);
  assert.equal(r.ok, false);
  if (r.ok) return;
  assert.equal(r.errors.length, 1, JSON.stringify(r.errors.slice(0, 3)));
  assert.deepEqual([r.errors[0].line, r.errors[0].col], [3000 * 4 + 3, 3]);
  assert.match(r.errors[0].message, /unique/);
});

const PIECES = [':', ' ', '\n', '-', '[', ']', '{', '}', ',', '"', "'", '#', '0', '-1', '0x1F', '0o17', '1_000', '0b1', '.5', '1.', '1e3', '.inf', '.NaN', 'null', '~', 'True', 'yes', 'on', '2024-01-01', '|', '>', '|-', '\t', 'é'];

test('whenever the fast reading decides alone, the positioned parser reads the same data without problems (seeded fuzz)', () => {
  const bases = readdirSync(join(FIXTURES, 'valid'))
    .filter((f) => f.endsWith('.yaml'))
    .map((f) => readFileSync(join(FIXTURES, 'valid', f), 'utf8'));
  const r = rng(Number(process.env.BERTH_FUZZ_SEED ?? 15));
  let compared = 0;
  for (let run = 0; run < 400; run++) {
    let text = bases[Math.floor(r() * bases.length)];
    const edits = Math.floor(r() * 4);
    for (let i = 0; i < edits; i++) {
      const pos = Math.floor(r() * (text.length + 1));
      text = text.slice(0, pos) + PIECES[Math.floor(r() * PIECES.length)] + text.slice(pos);
    }
    // Padded with a comment, so validateSpecText takes the fast reading first.
    text += `\n#${'x'.repeat(FAST_PATH_MIN_BYTES)}\n`;
    const fast = fastYaml(text);
    if (fast === undefined) continue;
    // Whenever the fast reading alone decides (a clean, valid spec), the positioned parser agrees.
    const result = validateSpecText(text, join(FIXTURES, 'valid', 'fuzzed.yaml'));
    if (!result.ok || result.warnings.length > 0) continue;
    const slow = parseYaml(text);
    assert.deepEqual([...slow.errors, ...slow.warnings], [], `run ${run}: accepted without the positioned parser's problems\n${text}`);
    assert.deepEqual(fast.value, slow.doc.toJS(), `run ${run}:\n${text}`);
    compared++;
  }
  assert.ok(compared > 100, `only ${compared} texts compared`);
});

/** CPU milliseconds of one validation of `text` (CPU, not wall: the machine may be shared). */
function cpuMs(text: string, ok: boolean): number {
  const before = process.cpuUsage();
  const r = validateSpecText(text, file);
  const used = process.cpuUsage(before);
  assert.equal(r.ok, ok);
  return (used.user + used.system) / 1000;
}

for (const [withErrors, mb] of [[false, 2], [true, 1]] as const) {
  test(`validation is linear in the spec's size: 2× the bench spec takes < 3× the time (${withErrors ? 'an error in every service' : 'valid'})`, () => {
    // The bench's spec (probes, env, routes, header rewrites), at two sizes, validated in this process.
    const one = generateSpec(mb * 1024 * 1024, withErrors).text;
    const two = generateSpec(2 * mb * 1024 * 1024, withErrors).text;
    cpuMs(two, !withErrors); // warm up (the code, and the heap to the larger size)
    // Alternating rounds, the fastest of each: a busy moment of the machine hits both sizes alike.
    let oneMs = Infinity;
    let twoMs = Infinity;
    for (let round = 0; round < 5; round++) {
      oneMs = Math.min(oneMs, cpuMs(one, !withErrors));
      twoMs = Math.min(twoMs, cpuMs(two, !withErrors));
    }
    process.stdout.write(`# ${mb} MB: ${oneMs.toFixed(0)} ms CPU; ${2 * mb} MB: ${twoMs.toFixed(0)} ms CPU (${(twoMs / oneMs).toFixed(2)}×)\n`);
    assert.ok(twoMs < 3 * oneMs, `2× the spec took ${(twoMs / oneMs).toFixed(2)}× the time`);
  });
}
