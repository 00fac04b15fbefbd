// Cross-field rules: references between services, cycles, ports, probes, commands, files.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { validateSpecText, formatSpecErrors, type SpecError } from '../../../src/contract/index.js';
import { tempDir, yaml } from './helpers.js';

const FILE = '/tmp/berth-semantic/berth.yaml';

function errors(text: string, file = FILE): SpecError[] {
  const r = validateSpecText(text, file);
  assert.equal(r.ok, false, 'expected errors');
  return r.ok ? [] : r.errors;
}

test('unknown services in uses and dependsOn, with known names in the hint', () => {
  const errs = errors(yaml`
    app: shop
    services:
      web: { run: x, port: 80, uses: [api, payments], dependsOn: { db: ready } }
      api: { run: x, port: 81 }
  `);
  assert.deepEqual(
    errs.map((e) => [e.path, e.message, e.hint]),
    [
      ['services.web.uses.1', 'unknown service `payments`', 'known services: `api`'],
      ['services.web.dependsOn.db', 'unknown service `db`', 'known services: `api`'],
    ],
  );
});

test('dependsOn cycles are named once', () => {
  const errs = errors(yaml`
    app: shop
    services:
      a: { run: x, dependsOn: [b] }
      b: { run: x, dependsOn: [c] }
      c: { run: x, dependsOn: [a] }
      d: { run: x, dependsOn: [d] }
  `);
  assert.deepEqual(
    errs.map((e) => `${e.line}:${e.col} ${e.path}: ${e.message}`),
    ['5:28 services.c.dependsOn.0: dependsOn cycle: a → b → c → a', '6:28 services.d.dependsOn.0: service `d` depends on itself'],
  );
});

test('two services on one port: the second is reported, naming the first', () => {
  const errs = errors('app: shop\nservices:\n  a: { run: x, port: 9000 }\n  b: { run: x, port: 9000 }\n  c: { run: x, port: 9000 }\n');
  assert.deepEqual(
    errs.map((e) => `${e.line}:${e.col} ${e.message}`),
    ['4:22 port 9000 is already used by service `a`', '5:22 port 9000 is already used by service `a`'],
  );
});

test('a used service needs a port; probes need a port from somewhere', () => {
  const errs = errors(yaml`
    app: shop
    services:
      web: { run: x, port: 80, uses: [worker] }
      worker:
        run: x
        probes:
          readiness: { grpc: {} }
          liveness: { tcp: { port: 9 } }
          startup: { exec: { command: "a && b" } }
  `);
  assert.deepEqual(
    errs.map((e) => e.path),
    ['services.web.uses.0', 'services.worker.probes.readiness.grpc', 'services.worker.probes.startup.exec.command'],
  );
});

test('probes need exactly one handler; liveness and startup need successThreshold 1', () => {
  const errs = errors(yaml`
    app: shop
    services:
      web:
        run: x
        port: 80
        probes:
          readiness: { successThreshold: 3 }
          liveness: { tcp: {}, exec: { command: x }, grpc: {} }
          startup: { tcp: {}, successThreshold: 2 }
  `);
  assert.deepEqual(
    errs.map((e) => e.path),
    ['services.web.probes.readiness', 'services.web.probes.liveness.exec', 'services.web.probes.startup.successThreshold'],
  );
  assert.match(errs[1].message, /`tcp`, `exec` and `grpc`/);
});

test('envFile must exist relative to the spec; cwd that is missing is a warning', () => {
  const dir = tempDir({ 'env/app.env': 'A=1\n' });
  const file = join(dir, 'berth.yaml');
  const good = validateSpecText('app: a\nservices:\n  web: { run: x, envFile: env/app.env, cwd: nowhere }\n', file);
  assert.ok(good.ok, good.ok ? '' : formatSpecErrors(good.errors));
  assert.deepEqual(good.warnings.map((w) => w.path), ['services.web.cwd']);
  const errs = errors('app: a\nservices:\n  web: { run: x, envFile: env/missing.env }\n', file);
  assert.deepEqual([errs[0].line, errs[0].col, errs[0].path], [3, 27, 'services.web.envFile']);
  assert.ok(errs[0].message.includes(join(dir, 'env/missing.env')));
  const asDir = errors('app: a\nservices:\n  web: { run: x, envFile: env }\n', file);
  assert.equal(asDir[0].path, 'services.web.envFile');
});

test('sidecar names are unique and not "app"; sidecar commands must split', () => {
  const errs = errors(yaml`
    app: shop
    services:
      web:
        run: x
        sidecars:
          - { name: app, run: x }
          - { name: log, run: "tail -f x | grep y" }
          - { name: log, run: y }
  `);
  assert.deepEqual(errs.map((e) => e.path), ['services.web.sidecars.0.name', 'services.web.sidecars.1.run', 'services.web.sidecars.2.name']);
});

test('restart backoff and rollout consistency', () => {
  const errs = errors(yaml`
    app: shop
    services:
      web:
        run: x
        restart: { backoff: { initialSeconds: 60 } }
        rollout: { maxSurge: "0%", maxUnavailable: 0 }
  `);
  assert.deepEqual(errs.map((e) => e.path), ['services.web.restart.backoff.initialSeconds', 'services.web.rollout.maxSurge']);
});

test('resource and rollout values are range-checked', () => {
  const errs = errors(yaml`
    app: shop
    services:
      web:
        run: x
        resources: { memoryMiB: 0, cpuMillis: 1.5 }
        rollout: { maxSurge: "150%", maxUnavailable: -1 }
  `);
  assert.deepEqual(errs.map((e) => e.path), [
    'services.web.resources.memoryMiB',
    'services.web.resources.cpuMillis',
    'services.web.rollout.maxSurge',
    'services.web.rollout.maxUnavailable',
  ]);
});

test('an empty program name in an argv list is refused; dependsOn ready on a 0-replica service warns', () => {
  const errs = errors('app: a\nservices:\n  web: { run: ["", x] }\n');
  assert.deepEqual(errs.map((e) => [e.line, e.col, e.path]), [[3, 16, 'services.web.run.0']]);
  const r = validateSpecText('app: a\nservices:\n  web: { run: x, dependsOn: { db: ready } }\n  db: { run: y, replicas: 0 }\n', FILE);
  assert.ok(r.ok);
  assert.deepEqual(r.warnings.map((w) => w.path), ['services.web.dependsOn.db']);
});

test('an invalid env var name is reported at the key, without a DNS-label suggestion', () => {
  const errs = errors('app: a\nservices:\n  web: { run: x, env: { "1A": x } }\n');
  assert.deepEqual(errs.map((e) => [e.line, e.col, e.path, e.hint]), [[3, 25, 'services.web.env.1A', undefined]]);
});
