// The condition language of analysis metrics (src/lib/expr.ts): what it computes, where it says a
// problem is, that it reaches nothing but the values it is given, and — fuzzed — that no input,
// however mangled, throws anything but an ExpressionError.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ExpressionError, evaluateCondition, parseExpression } from '../../../src/lib/expr.js';

const result = { canary: { p99Ms: 110, errorRate: 0.004, rps: 20, name: 'v2' }, stable: { p99Ms: 100, errorRate: 0.001 }, list: [0.97, 0.5], empty: [], missing: null };
const ev = (text: string, vars: Record<string, unknown> = { result }) => parseExpression(text).evaluate(vars);

function throwsAt(fn: () => unknown, position: number, message: RegExp): void {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof ExpressionError, `not an ExpressionError: ${String(err)}`);
    assert.equal(err.position, position, err.message);
    assert.match(err.message, message);
    return;
  }
  assert.fail('did not throw');
}

test('arithmetic, comparisons and logic, with the usual precedence', () => {
  assert.equal(ev('1 + 2 * 3'), 7);
  assert.equal(ev('(1 + 2) * 3'), 9);
  assert.equal(ev('10 % 4 - -1'), 3);
  assert.equal(ev('7 / 2'), 3.5);
  assert.equal(ev('1.5e2 + .5'), 150.5);
  assert.equal(ev('1 < 2 && 2 <= 2 && 3 > 2 && 3 >= 3 && 1 != 2 && 2 == 2'), true);
  assert.equal(ev('true || false && false'), true);
  assert.equal(ev('!(1 > 2)'), true);
  assert.equal(ev('not false and (true or false)'), true);
  assert.equal(ev("'a' + \"b\" == 'ab'"), true);
  assert.equal(ev("'abc' < 'abd'"), true);
  assert.equal(ev('nil == null'), true);
  assert.equal(ev("'it\\'s' == \"it's\""), true);
});

test('member access into result: fields, keys, indexes (negative from the end), a missing field is nil', () => {
  assert.equal(ev('result.canary.p99Ms < result.stable.p99Ms * 1.2'), true);
  assert.equal(ev('result.canary.p99Ms < result.stable.p99Ms * 1.05'), false);
  assert.equal(ev("result['canary'].name == 'v2'"), true);
  assert.equal(ev('result.list[0] >= 0.95'), true);
  assert.equal(ev('result.list[-1]'), 0.5);
  assert.equal(ev('result.nope == nil'), true);
  assert.equal(ev('result.missing == nil'), true);
});

test('built-ins: len, abs, min, max, isNaN, isInf, asInt, asFloat', () => {
  assert.equal(ev('len(result.list) > 0 && len(result.empty) == 0 && len("abc") == 3 && len(result.canary) == 4'), true);
  assert.equal(ev('abs(-2)'), 2);
  assert.equal(ev('min(3, 1, 2) + max(result.list)'), 1.97);
  assert.equal(ev('isNaN(0 / 0) && isInf(1 / 0)'), true);
  assert.equal(ev('asInt("42.9") + asFloat("0.5")'), 42.5);
});

test('only own fields: prototypes, constructors and functions are out of reach', () => {
  assert.equal(ev('result.constructor'), null);
  assert.equal(ev('result.__proto__'), null);
  assert.equal(ev("result['toString']"), null);
  throwsAt(() => ev('result.list.length'), 12, /indexed by a whole number/); // a list has no fields
});

test('parse errors say what and where (0-based position, 1-based in the message)', () => {
  throwsAt(() => parseExpression('result.canary.errorRate < '), 26, /ends too early \(at character 27\)/);
  throwsAt(() => parseExpression('result.x = 1'), 9, /unexpected character "="/);
  throwsAt(() => parseExpression('(1 + 2'), 6, /expected "\)"/);
  throwsAt(() => parseExpression("'open"), 0, /unterminated string/);
  throwsAt(() => parseExpression('eval("1")'), 0, /unknown function eval\(\)/);
  throwsAt(() => parseExpression('result.'), 7, /field name after "\."/);
  throwsAt(() => parseExpression('len(1, 2)'), 0, /takes one argument, not 2/);
  throwsAt(() => parseExpression('1 2'), 2, /unexpected "2"/);
  throwsAt(() => parseExpression('   '), 0, /empty/);
  throwsAt(() => parseExpression('('.repeat(300) + '1' + ')'.repeat(300)), 36, /nests deeper/);
  throwsAt(() => parseExpression('1+'.repeat(300) + '1'), 505, /nests deeper/);
  assert.throws(() => parseExpression('x'.repeat(5000)), ExpressionError);
});

test('evaluation errors are ExpressionErrors at the offending part', () => {
  throwsAt(() => ev('result.missing.p99Ms > 1'), 15, /result.missing is nil/);
  throwsAt(() => ev('result.nope > 1'), 12, />= compares|> compares two numbers/);
  throwsAt(() => ev('result.list[5]'), 11, /out of range/);
  throwsAt(() => ev('1 && true'), 0, /&& needs true or false/);
  throwsAt(() => ev('other > 1'), 0, /unknown name other/);
  throwsAt(() => ev("'a' * 2"), 0, /\* needs a number/);
  throwsAt(() => evaluateCondition('result.canary.p99Ms', { result }), 0, /must be true or false/);
  assert.equal(evaluateCondition('result.canary.errorRate < 0.01', { result }), true);
  // Short-circuit: the right side is not evaluated when the left decides.
  assert.equal(ev('false && result.missing.x > 1'), false);
  assert.equal(ev('true || result.missing.x > 1'), true);
});

/** A small deterministic generator (mulberry32). */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const PIECES = ['result', '.', 'canary', 'stable', 'p99Ms', 'errorRate', 'list', '[', ']', '(', ')', '0', '1.5', '-1', '1e309', "'s'", '"t"', '&&', '||', '!', '==', '!=', '<', '<=', '>', '>=', '+', '-', '*', '/', '%', ',', 'len', 'min', 'max', 'abs', 'isNaN', 'asInt', 'true', 'false', 'nil', 'and', 'not', ' ', '__proto__', 'constructor', '\\', "'", '"', '=', '?', ':', '\u0000', 'é', '${', '`'];

test('fuzz: random token soups and random characters never throw anything but ExpressionError', () => {
  const seed = Number(process.env.BERTH_FUZZ_SEED ?? 14);
  const r = rng(seed);
  const values: unknown[] = [result, null, 0, 'x', [1, 'a', null], { a: { b: [] } }, true, NaN];
  let parsed = 0;
  let evaluated = 0;
  const deadline = Date.now() + 3000;
  let runs = 0;
  for (; runs < 20_000 && Date.now() < deadline; runs++) {
    let text = '';
    const n = 1 + Math.floor(r() * 24);
    for (let i = 0; i < n; i++) text += r() < 0.1 ? String.fromCharCode(Math.floor(r() * 0x3000)) : PIECES[Math.floor(r() * PIECES.length)];
    try {
      const e = parseExpression(text);
      parsed++;
      const v = e.evaluate({ result: values[Math.floor(r() * values.length)] });
      evaluated++;
      void v;
    } catch (err) {
      if (!(err instanceof ExpressionError)) assert.fail(`run ${runs} (seed ${seed}) threw ${String(err)} for ${JSON.stringify(text)}`);
      assert.ok(Number.isInteger(err.position) && err.position >= 0 && err.position <= text.length, `position ${err.position} for ${JSON.stringify(text)}`);
    }
  }
  assert.ok(runs >= 1000, `only ${runs} runs`);
  assert.ok(parsed > 50 && evaluated > 10, `parsed ${parsed}, evaluated ${evaluated}: the generator should reach the evaluator`);
});
