// The light reader of large specs (light-yaml.ts) against the `yaml` library it stands in for:
// whenever it takes a text, the `yaml` library reads the same data without any problem, every path
// is located at the same line and column (base and overlay), and validating gives the very same
// result as the positioned path — on every spec fixture, on seeded mutations of them, and on
// hand-picked corner cases. Texts outside its subset are declined.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { readLightYaml } from '../../../src/contract/light-yaml.js';
import { LightLocator, LightPositions } from '../../../src/contract/light-locator.js';
import { parseYaml, YamlLocator, type PathSeg } from '../../../src/contract/positions.js';
import { FAST_PATH_MIN_BYTES, validateSpecText, validateSpecTextPositioned } from '../../../src/contract/load.js';
import { FIXTURES, ROOT } from './helpers.js';
import { rng } from '../../helpers/seeded-random.js';
import { generateSpec } from '../../../bench/validate.js';

function corpus(): string[] {
  const texts: string[] = [];
  for (const dir of [join(FIXTURES, 'valid'), join(FIXTURES, 'invalid')]) {
    for (const f of readdirSync(dir).filter((n) => n.endsWith('.yaml'))) texts.push(readFileSync(join(dir, f), 'utf8'));
  }
  texts.push(readFileSync(join(ROOT, 'examples/shop/berth.yaml'), 'utf8'));
  return texts;
}

/** Every path to a node of `data`, and beside each mapping's and list's children one that is not there. */
function paths(data: unknown, prefix: PathSeg[] = [], out: PathSeg[][] = []): PathSeg[][] {
  out.push(prefix);
  if (Array.isArray(data)) {
    data.forEach((v, i) => paths(v, [...prefix, i], out));
    out.push([...prefix, data.length], [...prefix, String(data.length > 0 ? 0 : 1)]);
  } else if (typeof data === 'object' && data !== null) {
    for (const [k, v] of Object.entries(data)) paths(v, [...prefix, k], out);
    out.push([...prefix, 'not-there'], [...prefix, 'not-there', 'deeper']);
  } else {
    out.push([...prefix, 'below-a-scalar']);
  }
  return out;
}

/** Compares the light reading of `text` with the `yaml` library's; returns whether the light reader took it. */
function compare(text: string, label: string): boolean {
  const light = readLightYaml(text);
  if (light === undefined) return false;
  const slow = parseYaml(text);
  assert.deepEqual([...slow.errors, ...slow.warnings], [], `${label}: taken by the light reader, but the yaml library finds problems\n${text}`);
  assert.deepEqual(light.value, slow.doc.toJS(), `${label}: different data\n${text}`);
  const positions = new LightPositions(text);
  const envs = light.value.environments;
  const overlays = [undefined, ...(typeof envs === 'object' && envs !== null ? Object.keys(envs) : [])];
  for (const overlay of overlays) {
    const fast = new LightLocator(positions, overlay);
    const reference = new YamlLocator(slow, overlay);
    // The base's paths, and the overlay's as paths of the merged spec.
    const overlayData = overlay !== undefined ? (envs as Record<string, unknown>)[overlay] : undefined;
    for (const p of [...paths(light.value), ...(overlay !== undefined ? paths(overlayData) : [])]) {
      for (const mode of ['value', 'key'] as const) {
        assert.deepEqual(fast.locate(p, mode), reference.locate(p, mode), `${label}: ${JSON.stringify(p)} (${mode}, overlay ${overlay})\n${text}`);
      }
    }
  }
  return true;
}

/** A trailing comment long enough that validateSpecText reads the text the fast way. */
const PAD = `\n#${'x'.repeat(FAST_PATH_MIN_BYTES)}\n`;

test('every spec fixture: the light reader reads it, with the same data and positions as the yaml library', () => {
  const texts = corpus();
  let taken = 0;
  texts.forEach((text, i) => {
    if (compare(text, `fixture ${i}`)) taken++;
  });
  // The fixtures with YAML syntax errors, duplicate keys or a non-mapping are declined; the rest is taken.
  assert.ok(taken >= texts.length - 5, `only ${taken} of ${texts.length} fixtures taken`);
});

test('every spec fixture, padded past the fast-path size: validating gives what the positioned path gives', () => {
  for (const text of corpus()) {
    const padded = text + PAD;
    const file = join(FIXTURES, 'valid', 'berth.yaml');
    const env = /^# env: (\S+)/m.exec(text)?.[1];
    const opts = env !== undefined ? { env } : {};
    assert.deepEqual(validateSpecText(padded, file, opts), validateSpecTextPositioned(padded, file, opts), text);
  }
});

const PIECES = [':', ': ', ' ', '\n', '\n  ', '- ', '-', '[', ']', '{', '}', ',', ', ', '"', "'", '#', ' #', '0', '-1', '0x1F', '0o17', '1_000', '.5', '1.', '1e3', '.inf', '-.Inf', '.NaN', 'null', '~', 'True', 'FALSE', 'yes', '2024-01-01', '|', '>', '\t', 'é', '\\', '\\n', '\\u00e9', '"a\\"b"', "'it''s'", '&a', '*a', '!tag', '<<', '?', '@', '`', '%', '---', '__proto__', 'a: b', '{ a: 1 }', '[1, 2]', '\r\n'];

test('seeded mutations of the fixtures: whatever the light reader takes, the yaml library reads alike and validation agrees', () => {
  const bases = corpus();
  const r = rng(Number(process.env.BERTH_FUZZ_SEED ?? 12));
  let taken = 0;
  let declined = 0;
  for (let run = 0; run < 1500; run++) {
    let text = bases[Math.floor(r() * bases.length)];
    const edits = 1 + Math.floor(r() * 3);
    for (let i = 0; i < edits; i++) {
      const pos = Math.floor(r() * (text.length + 1));
      text = text.slice(0, pos) + PIECES[Math.floor(r() * PIECES.length)] + text.slice(pos);
    }
    if (!compare(text, `run ${run}`)) {
      declined++;
      continue;
    }
    taken++;
    if (run % 5 === 0) {
      const padded = text + PAD;
      const file = join(FIXTURES, 'valid', 'fuzzed.yaml');
      assert.deepEqual(validateSpecText(padded, file), validateSpecTextPositioned(padded, file), `run ${run}\n${text}`);
    }
  }
  process.stdout.write(`# light reader: ${taken} mutated texts taken and compared, ${declined} declined\n`);
  assert.ok(taken > 300, `only ${taken} texts taken`);
  assert.ok(declined > 100, `only ${declined} texts declined`);
});

test('corner cases the light reader takes read as the yaml library reads them', () => {
  const cases = [
    'a:\nb: 1\n',
    'a:   # c\n  \nb: 1\n',
    'a: 1\nb:',
    'x:\n  - \n  - 2\n',
    'x:\n- a\n- b\ny: 1\n',
    'x:\n  - name: a\n    v: 1\n  -   name: b\n      w: [1, { c: d }]\n  -\n    deep: 1\n',
    'a: -0\nb: 00012\nc: 0o17\nd: 1e3\ne: 012.5\nf: 99999999999999999999\ng: +12\nh: 0x1F\ni: 1.\nj: .inf\nk: -.Inf\nl: .NaN\nm: 0x\nn: 1_000\n',
    'a: "x\\u00e9\\/\\t\\x41\\U0001F600 \\\\ \\""\nb: \'it\'\'s\'\nc: "a # b"\nd: a#b\n',
    'a: [ ]\nb: { }\nc: []\nd: {}\n',
    'x:  \n  y: 1\n',
    'a: b # c\n# comment\n  # indented comment\nc: d\n',
    'url: http://x:80/a?b=c\nk: a:b\nv: a - b\nw: x[0]{1}\n',
    '  a: 1\n  b:\n    c: 2\n',
    '"quoted key": 1\n\'single\': 2\nplain key with spaces: 3\nk : 4\n',
    'a: { "q": 1, \'r\': "2", s: [a, "b", \'c\'] }\n',
    'a: null\nb: Null\nc: ~\nd: true\ne: False\nf: TRUE\ng: yes\nh: On\n',
    'a:\n  b:\n    c:\n      - [1, 2]\n      - { x: y }\n  d: e\n',
    'e: [-1, -x, +1, .5]\n',
  ];
  for (const text of cases) assert.ok(compare(text, 'corner case'), `declined:\n${text}`);
});

test('texts outside the subset are declined (the yaml library reads or refuses them)', () => {
  const cases = [
    'a: &x 1\nb: *x\n',
    'a: !!str 1\n',
    'a: |\n  text\n',
    'a: >\n  text\n',
    'a: one\n  two\n',
    'a: "one\n  two"\n',
    'a: 1\na: 2\n',
    'a: { b: 1, b: 2 }\n',
    'a:\tb\n',
    'a: 1\r\nb: 2\r\n',
    'a: [1, 2, ]\n',
    'a: { b: 1, }\n',
    'a: [1,\n  2]\n',
    '---\na: 1\n',
    'a: 1\n...\n',
    '%YAML 1.2\n---\na: 1\n',
    '<<: { a: 1 }\n',
    '__proto__: 1\n',
    '1: a\n',
    'true: a\n',
    '? a\n: b\n',
    'a: b: c\n',
    '- a\n- b\n',
    'just a scalar\n',
    '',
    '# only a comment\n',
    'a: @x\n',
    'a: `x`\n',
    'a:\n    b: 1\n  c: 2\n',
    'a: 1\n  b: 2\n',
    'a:\n  - x\n  y: 1\n',
    'a: "\\q"\n',
    'a: "\\x4"\n',
    'a: x\n- b\n',
    'a: - b\n',
    'a: { b }\n',
    'a: { b: }\n',
    'a: [ b: c ]\n',
    'a: {b:1}\n',
    'a: "x"y\n',
    'a: [1]# c\n',
    'a: { b: 1 # c\n  }\n',
    '\ufeffa: 1\n',
    'a:b\n',
    '- - a\n',
    'x:\n  - - a\n',
  ];
  for (const text of cases) assert.equal(readLightYaml(text), undefined, `taken:\n${text}`);
});

test('the bench spec with an error in every service: the same errors, at the same places, as the positioned path', () => {
  const { text } = generateSpec(256 * 1024, true);
  const file = join(FIXTURES, 'valid', 'berth.yaml');
  const fast = validateSpecText(text, file);
  assert.equal(fast.ok, false);
  assert.ok(!fast.ok && fast.errors.length > 300, 'an error in every service');
  assert.deepEqual(fast, validateSpecTextPositioned(text, file));
  // With an environment overlay that moves some errors into it.
  const env = `${text}environments:\n  prod:\n    services:\n      svc-3: { replicas: -2, port: 0 }\n      svc-4: { probes: { liveness: { exec: { command: "a && b" } } } }\n`;
  assert.deepEqual(validateSpecText(env, file, { env: 'prod' }), validateSpecTextPositioned(env, file, { env: 'prod' }));
});

test('a large valid spec with warnings: the same warnings, at the same places, as the positioned path', () => {
  const { text } = generateSpec(128 * 1024);
  const warned = text.replace('  svc-7:\n', '  svc-7:\n    cwd: ./no-such-directory\n');
  const file = join(FIXTURES, 'valid', 'berth.yaml');
  const fast = validateSpecText(warned, file);
  assert.ok(fast.ok && fast.warnings.length === 1, JSON.stringify(fast.ok ? fast.warnings : fast.errors.slice(0, 3)));
  assert.deepEqual(fast, validateSpecTextPositioned(warned, file));
});
