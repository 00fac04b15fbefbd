// Exact line:col of errors, "did you mean" hints, and the formatted error listing.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { validateSpecText, formatSpecErrors, didYouMean, type SpecError } from '../../../src/contract/index.js';
import { yaml } from './helpers.js';

const FILE = '/tmp/berth-positions/berth.yaml';

function errors(text: string, env?: string): SpecError[] {
  const r = validateSpecText(text, FILE, { env });
  assert.equal(r.ok, false, 'expected errors');
  return r.ok ? [] : r.errors;
}

function at(errs: SpecError[]): string[] {
  return errs.map((e) => `${e.line}:${e.col} ${e.path}`);
}

test('value errors point at the value, block and flow style', () => {
  const errs = errors(yaml`
    app: shop
    services:
      web:
        run: node web.js
        probes:
          liveness:
            tcp: { port: 8080 }
            periodSeconds: -1
          readiness: { tcp: { port: 0 }, timeoutSeconds: 0 }
  `);
  assert.deepEqual(at(errs), [
    '8:24 services.web.probes.liveness.periodSeconds',
    '9:33 services.web.probes.readiness.tcp.port',
    '9:54 services.web.probes.readiness.timeoutSeconds',
  ]);
  assert.ok(errs.every((e) => e.file === FILE));
});

test('unknown keys point at the key, with did-you-mean', () => {
  const errs = errors(yaml`
    app: shop
    services:
      web:
        run: node web.js
        replcas: 2
        stopGracePeriod: 5
        depends_on: [db]
        frobnicate: 1
      db: { run: db }
  `);
  assert.deepEqual(
    errs.map((e) => [e.line, e.col, e.path, e.hint]),
    [
      [5, 5, 'services.web.replcas', 'did you mean `replicas`?'],
      [6, 5, 'services.web.stopGracePeriod', 'did you mean `stopGracePeriodSeconds`?'],
      [7, 5, 'services.web.depends_on', 'did you mean `dependsOn`?'],
      [8, 5, 'services.web.frobnicate', errs[3]?.hint],
    ],
  );
  assert.match(errs[3].hint ?? '', /^allowed here: `run`, `cwd`/);
});

test('a missing required key points at the parent mapping', () => {
  const errs = errors(yaml`
    app: shop
    services:
      web:
        port: 8080
  `);
  assert.deepEqual(at(errs), ['4:5 services.web.run']);
  assert.equal(errs[0].message, 'missing required field `run`');
});

test('a missing required key in a flow mapping points at its brace', () => {
  const errs = errors('app: shop\nservices:\n  web: { port: 8080 }\n');
  assert.deepEqual(at(errs), ['3:8 services.web.run']);
});

test('an empty value explains YAML null', () => {
  const errs = errors('app: shop\nservices:\n  web:\n    run:\n');
  assert.equal(errs[0].path, 'services.web.run');
  assert.match(errs[0].hint ?? '', /null/);
});

test('YAML syntax errors carry positions', () => {
  const errs = errors('app: shop\nservices:\n  web:\n\trun: x\n');
  assert.equal(errs[0].line, 4);
  assert.match(errs[0].message, /YAML syntax error/);
  const dup = errors('app: shop\napp: other\nservices: { web: { run: x } }\n');
  assert.deepEqual([dup[0].line, dup[0].col], [2, 1]);
});

test('an empty file says what to write', () => {
  const errs = errors('# nothing yet\n');
  assert.match(errs[0].message, /empty/);
  assert.match(errs[0].hint ?? '', /berth init/);
});

test('all problems are reported at once, in file order', () => {
  const errs = errors(yaml`
    app: Shop
    services:
      web: { run: "a | b", port: 8080, replicas: 1.5 }
      api: { run: x, port: 8080, restart: { policy: sometimes } }
  `);
  assert.deepEqual(at(errs), [
    '1:6 app',
    '3:15 services.web.run',
    '3:46 services.web.replicas',
    '4:24 services.api.port',
    '4:49 services.api.restart.policy',
  ]);
});

test('didYouMean finds close names and ignores distant ones', () => {
  const keys = ['run', 'cwd', 'env', 'envFile', 'port', 'replicas', 'uses', 'dependsOn', 'probes'];
  assert.equal(didYouMean('replicsa', keys), 'replicas');
  assert.equal(didYouMean('Port', keys), 'port');
  assert.equal(didYouMean('envfile', keys), 'envFile');
  assert.equal(didYouMean('dependson', keys), 'dependsOn');
  assert.equal(didYouMean('zzzzzz', keys), undefined);
});

test('formatSpecErrors prints file:line:col: path: message (hint) and a summary', () => {
  const errs: SpecError[] = [
    { file: '/a/berth.yaml', line: 3, col: 5, path: 'services.web.replcas', message: 'unknown field `replcas`', hint: 'did you mean `replicas`?' },
    { file: '/a/berth.yaml', line: 0, col: 0, path: '', message: 'whole-file problem' },
  ];
  assert.equal(
    formatSpecErrors(errs),
    '/a/berth.yaml:3:5: services.web.replcas: unknown field `replcas` (did you mean `replicas`?)\n/a/berth.yaml: whole-file problem\n2 problems',
  );
  assert.equal(formatSpecErrors(errs.slice(0, 1), { relativeTo: '/a' }).split('\n')[0].startsWith('berth.yaml:3:5: '), true);
  assert.match(formatSpecErrors(errs.slice(0, 1)), /\n1 problem$/);
  assert.match(formatSpecErrors(errs, { kind: 'warning' }), /\n2 warnings$/);
  assert.ok(formatSpecErrors(errs, { color: true }).includes('\u001b['));
});
