// Kyverno's pattern language over service specs: each operator, wildcards, ranges, magnitudes
// (numbers, quantities, durations), null, lists, and the anchors.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { matchPattern, matchScalar, wildcardMatch, type PatternMismatch } from '../../../src/contract/index.js';

const ok = (value: unknown, pattern: unknown) => assert.equal(matchPattern(value, pattern), 'ok', `${JSON.stringify(value)} ~ ${JSON.stringify(pattern)}`);
const bad = (value: unknown, pattern: unknown): PatternMismatch => {
  const r = matchPattern(value, pattern);
  assert.notEqual(r, 'ok', `${JSON.stringify(value)} !~ ${JSON.stringify(pattern)}`);
  assert.notEqual(r, 'skip');
  return r as PatternMismatch;
};

test('wildcards: * any run, ? exactly one character, the rest literal', () => {
  assert.ok(wildcardMatch('web-*', 'web-api'));
  assert.ok(wildcardMatch('web-*', 'web-'));
  assert.ok(!wildcardMatch('web-*', 'api'));
  assert.ok(wildcardMatch('v?', 'v1'));
  assert.ok(!wildcardMatch('v?', 'v10'));
  assert.ok(!wildcardMatch('v?', 'v'));
  assert.ok(wildcardMatch('a.b', 'a.b'));
  assert.ok(!wildcardMatch('a.b', 'axb'), 'a dot is literal');
  assert.ok(wildcardMatch('*:latest', 'registry.example.com/web:latest'));
});

test('?* requires a value that is present and not empty; * only present', () => {
  assert.ok(matchScalar('x', '?*'));
  assert.ok(!matchScalar('', '?*'));
  assert.ok(matchScalar('', '*'));
  bad({}, { owner: '*' });
  bad({}, { owner: '?*' });
  ok({ owner: 'team' }, { owner: '?*' });
});

test('operator >: numbers, numeric strings, quantities and durations', () => {
  assert.ok(matchScalar(3, '>2'));
  assert.ok(!matchScalar(2, '>2'));
  assert.ok(matchScalar('3', '>2'));
  assert.ok(matchScalar('1Gi', '>512Mi'));
  assert.ok(matchScalar('2m', '>90s'), 'durations compare by length');
  assert.ok(!matchScalar('abc', '>2'), 'ordering does not apply to words');
});

test('operator <', () => {
  assert.ok(matchScalar(1, '<2'));
  assert.ok(!matchScalar(2, '<2'));
  assert.ok(matchScalar('250m', '<1'), 'quantity 250m is a quarter');
});

test('operators >= and <=', () => {
  assert.ok(matchScalar(2, '>=2'));
  assert.ok(!matchScalar(1, '>=2'));
  assert.ok(matchScalar(2, '<=2'));
  assert.ok(!matchScalar(3, '<=2'));
  assert.ok(matchScalar(0.5, '<= 1'), 'spaces after the operator are allowed');
});

test('operator ! negates, with wildcards', () => {
  assert.ok(matchScalar('web:1.2', '!*:latest'));
  assert.ok(!matchScalar('web:latest', '!*:latest'));
  assert.ok(matchScalar(3, '!2'));
  assert.ok(!matchScalar(2, '!2'));
});

test('operator | (any alternative) and & (all conditions)', () => {
  assert.ok(matchScalar('canary', 'canary|blue-green'));
  assert.ok(matchScalar('blue-green', 'canary | blue-green'));
  assert.ok(!matchScalar('rolling', 'canary|blue-green'));
  assert.ok(matchScalar(5, '>=2 & <=10'));
  assert.ok(!matchScalar(11, '>=2 & <=10'));
  assert.ok(matchScalar(1, '1 | >5'));
});

test('ranges a-b and a!-b; a dashed word is not a range', () => {
  assert.ok(matchScalar(3, '1-5'));
  assert.ok(matchScalar(5, '1-5'));
  assert.ok(!matchScalar(6, '1-5'));
  assert.ok(matchScalar(6, '1!-5'));
  assert.ok(!matchScalar(3, '1!-5'));
  assert.ok(matchScalar('256Mi', '128Mi-1Gi'));
  assert.ok(matchScalar('web-api', 'web-api'));
  assert.ok(!matchScalar('web-ui', 'web-api'));
});

test('numbers and booleans in a pattern match by value; null means absent or empty', () => {
  ok({ replicas: 2 }, { replicas: 2 });
  bad({ replicas: 3 }, { replicas: 2 });
  ok({ enabled: true }, { enabled: true });
  bad({ enabled: 'true' }, { enabled: true });
  ok({}, { image: null });
  ok({ image: '' }, { image: '' });
  bad({ image: 'x' }, { image: null });
});

test('the first mismatch is reported with its path, what was expected and what was found', () => {
  const m = bad({ resources: { memoryMiB: 64 } }, { resources: { memoryMiB: '>=128' } });
  assert.deepEqual(m.path, ['resources', 'memoryMiB']);
  assert.match(m.expected, />=128/);
  assert.equal(m.got, 64);
  const missing = bad({}, { resources: { memoryMiB: '?*' } });
  assert.deepEqual(missing.path, ['resources']);
  assert.equal(missing.got, undefined);
});

test('lists: every element must match the pattern element; a scalar pattern applies to each element', () => {
  ok({ sidecars: [{ name: 'a', run: 'x' }, { name: 'b', run: 'y' }] }, { sidecars: [{ name: '?*' }] });
  const m = bad({ sidecars: [{ name: 'a' }, { name: '' }] }, { sidecars: [{ name: '?*' }] });
  assert.deepEqual(m.path, ['sidecars', 1, 'name']);
  ok({ uses: ['orders', 'inventory'] }, { uses: '!payments' });
  bad({ uses: ['orders', 'payments'] }, { uses: '!payments' });
});

test('a mapping (e.g. a probe) matches * when present and ?* when not empty', () => {
  ok({ probes: { readiness: { http: { path: '/' } } } }, { probes: { readiness: '?*' } });
  bad({ probes: {} }, { probes: { readiness: '?*' } });
  bad({ probes: { readiness: {} } }, { probes: { readiness: '?*' } });
});

test('equality anchor =(): checked only when present', () => {
  ok({}, { '=(image)': '!*:latest' });
  ok({ image: 'web:1.0' }, { '=(image)': '!*:latest' });
  const m = bad({ image: 'web:latest' }, { '=(image)': '!*:latest' });
  assert.deepEqual(m.path, ['image']);
});

test('negation anchor X(): the field must be absent', () => {
  ok({}, { 'X(user)': 'null' });
  const m = bad({ user: 'root' }, { 'X(user)': 'null' });
  assert.deepEqual(m.path, ['user']);
  assert.equal(m.expected, 'absent');
});

test('conditional anchor (): when it does not hold, the rest of the mapping is not checked', () => {
  const pattern = { '(protocol)': 'grpc', probes: { readiness: { grpc: '?*' } } };
  ok({ protocol: 'http', probes: {} }, pattern);
  ok({ protocol: 'grpc', probes: { readiness: { grpc: { port: 9000 } } } }, pattern);
  bad({ protocol: 'grpc', probes: { readiness: { http: { path: '/' } } } }, pattern);
});

test('existence anchor ^(): at least one list element matches', () => {
  ok({ sidecars: [{ name: 'a' }, { name: 'audit' }] }, { '^(sidecars)': [{ name: 'audit' }] });
  bad({ sidecars: [{ name: 'a' }] }, { '^(sidecars)': [{ name: 'audit' }] });
  bad({}, { '^(sidecars)': [{ name: 'audit' }] });
});

test('global anchor <(): when it does not hold, the whole rule is skipped', () => {
  const pattern = { '<(image)': 'registry.corp/*', replicas: '>=2' };
  assert.equal(matchPattern({ image: 'docker.io/web:1', replicas: 1 }, pattern), 'skip');
  assert.equal(matchPattern({ image: 'registry.corp/web:1', replicas: 2 }, pattern), 'ok');
  bad({ image: 'registry.corp/web:1', replicas: 1 }, pattern);
});
