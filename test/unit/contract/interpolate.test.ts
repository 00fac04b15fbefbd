// `${VAR}` interpolation in YAML specs (issue 19 point 5), with docker compose's rules, checked
// operator by operator; unset variables are reported at file:line:col (a warning, or an error for
// `:?`), keys and regex anchors are left alone, and `.env` beside the spec gives values the
// environment does not.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { InterpolationError, interpolate, interpolateString, specVariables } from '../../../src/contract/interpolate.js';
import { validateSpecText } from '../../../src/contract/index.js';

const vars = (m: Record<string, string>) => (n: string) => m[n];
const V = vars({ SET: 'value', EMPTY: '', PORT: '8080', NAME: 'SET' });

test('compose operators: plain, :- and -, :+ and +, $$ and nesting', () => {
  const cases: [string, string][] = [
    ['${SET}', 'value'],
    ['$SET', 'value'],
    ['a-$SET-b', 'a-value-b'],
    ['${SET}x${PORT}', 'valuex8080'],
    ['${UNSET:-dflt}', 'dflt'],
    ['${EMPTY:-dflt}', 'dflt'],
    ['${EMPTY-dflt}', ''],
    ['${UNSET-dflt}', 'dflt'],
    ['${SET:-dflt}', 'value'],
    ['${SET:+alt}', 'alt'],
    ['${EMPTY:+alt}', ''],
    ['${EMPTY+alt}', 'alt'],
    ['${UNSET+alt}', ''],
    ['$$SET', '$SET'],
    ['$${SET}', '${SET}'],
    ['${UNSET:-${PORT}}', '8080'],
    ['${UNSET:-${ALSO_UNSET:-deep}}', 'deep'],
    ['^[a-z]+$', '^[a-z]+$'],
    ['cost $5 or $ alone', 'cost $5 or $ alone'],
    ['no dollar', 'no dollar'],
    ['logs/app-${BERTH_INSTANCE}.log', 'logs/app-${BERTH_INSTANCE}.log'],
    ['logs/$BERTH_INSTANCE.log', 'logs/$BERTH_INSTANCE.log'],
  ];
  for (const [input, want] of cases) assert.equal(interpolateString(input, V), want, input);
});

test('unset bare variables are listed; :? and ? fail with the message', () => {
  const unset: string[] = [];
  assert.equal(interpolateString('${NOPE}/$ALSO', V, unset), '/');
  assert.deepEqual(unset, ['NOPE', 'ALSO']);
  assert.throws(() => interpolateString('${NOPE:?set NOPE to the API host}', V), /required variable NOPE is not set: set NOPE to the API host/);
  assert.throws(() => interpolateString('${EMPTY:?}', V), /required variable EMPTY is empty/);
  assert.equal(interpolateString('${EMPTY?x}', V), '');
  assert.throws(() => interpolateString('${SET', V), /unterminated/);
  assert.throws(() => interpolateString('${9X}', V), /does not start with a variable name/);
  assert.throws(() => interpolateString('${SET!x}', V), /expected `}`/);
});

const spec = (run: string) => `app: interp
services:
  web:
    run: ${run}
    port: 28081
    env:
      FROM_VAR: "$SET"
`;

test('in a spec: values are interpolated, keys are not; positions of problems are file:line:col', () => {
  const ok = validateSpecText(spec('node web.js --port ${PORT:-1}'), '/x/berth.yaml', { variables: V });
  assert.ok(ok.ok, JSON.stringify(!ok.ok && ok.errors));
  assert.equal(ok.spec.services.web.run, 'node web.js --port 8080');
  assert.deepEqual(ok.spec.services.web.env, { FROM_VAR: 'value' });
  assert.deepEqual(interpolate({ $SET: ['$SET', { '${SET}': 1 }] }, V).value, { $SET: ['value', { '${SET}': 1 }] }, 'keys stay as written');
  assert.deepEqual(ok.warnings, []);

  const warn = validateSpecText(spec('node web.js --token ${TOKEN}'), '/x/berth.yaml', { variables: V });
  assert.ok(warn.ok);
  assert.equal(warn.spec.services.web.run, 'node web.js --token ');
  assert.equal(warn.warnings.length, 1);
  assert.deepEqual([warn.warnings[0].line, warn.warnings[0].col], [4, 10]);
  assert.match(warn.warnings[0].message, /variable TOKEN is not set: using an empty string/);

  const bad = validateSpecText(spec('node web.js --token ${TOKEN:?ask ops for one}'), '/x/berth.yaml', { variables: V });
  assert.ok(!bad.ok);
  assert.deepEqual(bad.errors.map((e) => [e.line, e.col, e.message]), [[4, 10, 'required variable TOKEN is not set: ask ops for one']]);
});

test('.env beside the spec gives values; the environment wins', () => {
  const dir = mkdtempSync(join(tmpdir(), 'berth-interp-'));
  writeFileSync(join(dir, '.env'), 'FROM_FILE=file\nBOTH=file\n');
  const get = specVariables(dir, { BOTH: 'environment' });
  assert.equal(get('FROM_FILE'), 'file');
  assert.equal(get('BOTH'), 'environment');
  assert.equal(get('NEITHER'), undefined);
  assert.equal(specVariables(mkdtempSync(join(tmpdir(), 'berth-interp-')), {})('X'), undefined, 'no .env: only the environment');
});

test('fuzz: random text of the syntax characters interpolates or fails with InterpolationError, nothing else', () => {
  const alphabet = ['$', '{', '}', ':', '-', '?', '+', 'S', 'E', 'T', 'SET', 'EMPTY', 'X', '_', '9', ' ', '$$'];
  let seed = 12345;
  const rand = (n: number) => ((seed = (seed * 1103515245 + 12345) % 2 ** 31), seed % n);
  for (let i = 0; i < 20_000; i++) {
    let text = '';
    for (let k = rand(16); k > 0; k--) text += alphabet[rand(alphabet.length)];
    try {
      assert.equal(typeof interpolateString(text, V), 'string');
    } catch (e) {
      assert.ok(e instanceof InterpolationError, `${JSON.stringify(text)}: ${String(e)}`);
    }
  }
});
