// Defaults filled in by the schema, and the shapes other parts of Berth code against.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { validateSpecText, formatSpecErrors, defineApp, AppSchema, type AppSpec } from '../../../src/contract/index.js';
import { yaml } from './helpers.js';

function ok(text: string, env?: string): AppSpec {
  const r = validateSpecText(text, '/tmp/berth-defaults/berth.yaml', { env });
  assert.ok(r.ok, r.ok ? '' : formatSpecErrors(r.errors));
  return r.spec;
}

test('a minimal service gets every default', () => {
  const spec = ok(yaml`
    app: shop
    services:
      web: { run: node web.js }
  `);
  assert.deepEqual(spec, {
    app: 'shop',
    environments: {},
    mesh: { accessLog: true, requestId: true, forwardedFor: true },
    services: {
      web: {
        run: 'node web.js',
        env: {},
        replicas: 1,
        uses: [],
        dependsOn: {},
        sidecars: [],
        probes: {},
        restart: { policy: 'always', backoff: { initialSeconds: 0.5, maxSeconds: 30, resetAfterSeconds: 60 } },
        resources: {},
        stopGracePeriodSeconds: 10,
        rollout: { maxSurge: 1, maxUnavailable: 0 },
        priority: 0,
        protocol: 'http',
        logs: {
          enabled: true,
          files: [],
          decompress: false,
          parsers: [],
          maxLineBytes: 1024 * 1024,
          buffer: { type: 'memory', maxRecords: 10_000, maxBytes: 256 * 1024 * 1024, whenFull: 'block' },
          sinks: [{ type: 'embedded' }],
          agent: { memoryMiB: 128 },
        },
      },
    },
  });
});

test('probe defaults follow Kubernetes names, with faster timings', () => {
  const spec = ok(yaml`
    app: shop
    services:
      web:
        run: node web.js
        port: 8080
        probes:
          readiness: { http: {} }
          liveness: { tcp: {} }
          startup: { grpc: { service: web } }
  `);
  const p = spec.services.web.probes;
  assert.deepEqual(p.readiness, {
    http: { path: '/', scheme: 'http', headers: {} },
    initialDelaySeconds: 0,
    periodSeconds: 1,
    timeoutSeconds: 1,
    successThreshold: 1,
    failureThreshold: 3,
  });
  assert.deepEqual(p.liveness?.tcp, {});
  assert.deepEqual(p.startup?.grpc, { service: 'web' });
});

test('partial restart backoff keeps the other defaults', () => {
  const spec = ok(yaml`
    app: shop
    services:
      web: { run: node web.js, restart: { backoff: { maxSeconds: 5 } } }
  `);
  assert.deepEqual(spec.services.web.restart, { policy: 'always', backoff: { initialSeconds: 0.5, maxSeconds: 5, resetAfterSeconds: 60 } });
});

test('env values: numbers and booleans become strings', () => {
  const spec = ok(yaml`
    app: shop
    services:
      web: { run: node web.js, env: { N: 3, F: 1.5, B: true, S: "x" } }
  `);
  assert.deepEqual(spec.services.web.env, { N: '3', F: '1.5', B: 'true', S: 'x' });
});

test('dependsOn as a list means started for each', () => {
  const spec = ok(yaml`
    app: shop
    services:
      web: { run: node web.js, dependsOn: [db, cache] }
      db: { run: db }
      cache: { run: cache }
  `);
  assert.deepEqual(spec.services.web.dependsOn, { db: 'started', cache: 'started' });
});

test('run may be an argv list; rollout accepts percentages', () => {
  const spec = ok(yaml`
    app: shop
    services:
      web: { run: [node, "a b.js"], rollout: { maxSurge: "25%", maxUnavailable: "10%" } }
  `);
  assert.deepEqual(spec.services.web.run, ['node', 'a b.js']);
  assert.deepEqual(spec.services.web.rollout, { maxSurge: '25%', maxUnavailable: '10%' });
});

test('YAML anchors and merge keys work', () => {
  const spec2 = ok(yaml`
    app: shop
    services:
      base: &base { run: node base.js, replicas: 3 }
      web: { <<: *base, port: 8080 }
  `);
  assert.equal(spec2.services.web.replicas, 3);
  assert.equal(spec2.services.web.run, 'node base.js');
});

test('defineApp is the identity and accepts input without defaults', () => {
  const input = defineApp({ app: 'shop', services: { web: { run: 'node web.js', dependsOn: ['db'] }, db: { run: 'db' } } });
  assert.equal(input.app, 'shop');
  const parsed = AppSchema.parse(input);
  assert.equal(parsed.services.web.replicas, 1);
});
