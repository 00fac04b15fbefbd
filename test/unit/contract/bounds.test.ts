// The spec and the runtime share one table of bounds (issue 12 point 7): every value the schema
// accepts compiles to a desired state the node agent's own validation accepts — at each bound's
// minimum and maximum, and over a seeded fuzz of generated specs — and what would overflow Node's
// timers or collide instance ids is refused at validate time, with file:line:col.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { validateSpecText, type AppSpec } from '../../../src/contract/index.js';
import { compile } from '../../../src/plan/index.js';
import { materialize } from '../../../src/control/instances.js';
import { parseDesired } from '../../../src/node/desired-validation.js';
import { BOUNDS, MAX_TIMER_MS, type Bound } from '../../../src/lib/bounds.js';
import { rng } from '../../helpers/seeded-random.js';
import { tempDir } from './helpers.js';

const dir = tempDir({});
const file = join(dir, 'berth.yaml');

/** Every bounded number of a service that reaches the node agent: where it sits, which bound. */
const FIELDS: { path: string[]; bound: Bound }[] = [
  { path: ['replicas'], bound: BOUNDS.replicas },
  { path: ['port'], bound: BOUNDS.port },
  { path: ['stopGracePeriodSeconds'], bound: BOUNDS.stopGracePeriodSeconds },
  { path: ['resources', 'memoryMiB'], bound: BOUNDS.memoryMiB },
  { path: ['resources', 'cpuMillis'], bound: BOUNDS.cpuMillis },
  ...['initialSeconds', 'maxSeconds', 'resetAfterSeconds'].map((k) => ({ path: ['restart', 'backoff', k], bound: BOUNDS.backoffSeconds })),
  ...(['startup', 'readiness', 'liveness'] as const).flatMap((kind) => [
    { path: ['probes', kind, 'initialDelaySeconds'], bound: BOUNDS.initialDelaySeconds },
    { path: ['probes', kind, 'periodSeconds'], bound: BOUNDS.periodSeconds },
    { path: ['probes', kind, 'timeoutSeconds'], bound: BOUNDS.timeoutSeconds },
    { path: ['probes', kind, 'failureThreshold'], bound: BOUNDS.failureThreshold },
  ]),
  { path: ['probes', 'readiness', 'successThreshold'], bound: BOUNDS.successThreshold },
];

type Obj = Record<string, unknown>;

function baseService(): Obj {
  return {
    run: 'node app.js',
    port: 8080,
    probes: { startup: { tcp: {} }, readiness: { http: { path: '/ready', headers: { 'X-Probe': 'berth' } } }, liveness: { exec: { command: 'true' } } },
  };
}

function setPath(o: Obj, path: string[], v: unknown): void {
  let cur = o;
  for (const k of path.slice(0, -1)) cur = (cur[k] ??= {}) as Obj;
  cur[path[path.length - 1]] = v;
}

/** A spec as YAML text (JSON is YAML); `nodes: 4` leaves room for the largest replica count. */
function specText(svc: Obj): string {
  return JSON.stringify({ app: 'bounds', nodes: 4, services: { web: svc } }, null, 1);
}

/** The desired state a node agent would receive for one instance of every deployment, parsed by the agent's validation. */
function agentAccepts(spec: AppSpec): void {
  const state = compile(spec, { dir, specFile: file });
  const instances = state.services.map((s, i) =>
    materialize(
      spec.app,
      { id: `${s.name}-${s.revision.slice(0, 5)}-${i}`, service: s.name, revision: s.revision, node: 'node-1', host: '127.1.1.2', phase: 'active', dispatched: true, createdAt: new Date(0).toISOString() },
      s.template,
      join(dir, 'logs'),
    ),
  );
  // Over the wire, as the control plane sends it.
  parseDesired(JSON.parse(JSON.stringify({ generation: 1, instances, services: [] })));
}

test('each bound: its minimum and maximum validate and the agent accepts them; just outside, validate refuses with a position', () => {
  for (const f of FIELDS) {
    for (const v of [f.bound.min, f.bound.max]) {
      const svc = baseService();
      setPath(svc, f.path, v);
      // backoff.maxSeconds may not be below initialSeconds.
      if (f.path[2] === 'initialSeconds') setPath(svc, ['restart', 'backoff', 'maxSeconds'], f.bound.max);
      if (f.path[2] === 'maxSeconds') setPath(svc, ['restart', 'backoff', 'initialSeconds'], f.bound.min);
      const r = validateSpecText(specText(svc), file);
      assert.ok(r.ok, `${f.path.join('.')}: ${v} should validate: ${JSON.stringify(!r.ok && r.errors)}`);
      assert.doesNotThrow(() => agentAccepts(r.spec), `${f.path.join('.')}: ${v}`);
    }
    const step = f.bound.integer ? 1 : f.bound.min > 0 ? f.bound.min / 2 : 0.5;
    for (const v of [f.bound.min - step, f.bound.max + (f.bound.integer ? 1 : 1)]) {
      const svc = baseService();
      setPath(svc, f.path, v);
      const r = validateSpecText(specText(svc), file);
      assert.equal(r.ok, false, `${f.path.join('.')}: ${v} should be refused`);
      if (r.ok) continue;
      const e = r.errors.find((x) => x.path === ['services', 'web', ...f.path].join('.'));
      assert.ok(e, `${f.path.join('.')}: ${v}: ${JSON.stringify(r.errors)}`);
      assert.ok(e.line > 1 && e.col > 1, JSON.stringify(e));
    }
    // Seconds fit Node's timers, which fire after 1 ms above 2^31-1 ms.
    if (f.bound.unit === 'seconds') assert.ok(f.bound.max * 1000 * 2 < MAX_TIMER_MS, f.path.join('.'));
  }
});

test('the values of the issue are refused at validate time, with file:line:col and a clear message', () => {
  const cases: { field: string; yaml: string; fragment: string }[] = [
    { field: 'services.web.probes.readiness.periodSeconds', yaml: '    probes: { readiness: { tcp: {}, periodSeconds: 0.0005 } }', fragment: 'at least 0.001 seconds' },
    { field: 'services.web.stopGracePeriodSeconds', yaml: '    stopGracePeriodSeconds: 1e12', fragment: 'at most 86400 seconds' },
    { field: 'services.web.restart.backoff.maxSeconds', yaml: '    restart: { backoff: { maxSeconds: 1000000000 } }', fragment: 'at most 86400 seconds' },
    { field: 'services.web.replicas', yaml: '    replicas: 1000000', fragment: 'at most 1000' },
    { field: 'services.web.routes.0.timeout', yaml: '    routes: [{ timeout: 10000000 }]', fragment: 'at most 86400 seconds' },
    { field: 'services.web.routes.0.retries.perTryTimeout', yaml: '    routes: [{ retries: { perTryTimeout: 0.1ms } }]', fragment: 'at least 1 ms' },
  ];
  for (const c of cases) {
    const text = `app: shop\nservices:\n  web:\n    run: node web.js\n    port: 8080\n${c.yaml}\n`;
    const r = validateSpecText(text, file);
    assert.equal(r.ok, false, c.yaml);
    if (r.ok) continue;
    const e = r.errors.find((x) => x.path === c.field);
    assert.ok(e, `${c.yaml}: ${JSON.stringify(r.errors)}`);
    assert.equal(e.line, 6, c.yaml);
    assert.ok(e.message.includes(c.fragment), `${e.message} should mention ${c.fragment}`);
  }
});

test('more instances than the nodes have addresses for is refused', () => {
  const r = validateSpecText('app: shop\nservices:\n  web: { run: node web.js, replicas: 200 }\n  api: { run: node api.js, replicas: 100 }\n', file);
  assert.equal(r.ok, false);
  if (!r.ok) assert.match(r.errors[0].message, /up to 300 instances, but 1 node offers 253 instance addresses/);
  assert.ok(validateSpecText('app: shop\nnodes: 2\nservices:\n  web: { run: node web.js, replicas: 200 }\n  api: { run: node api.js, replicas: 100 }\n', file).ok);
});

/** Values that stress a bound: its edges, just beyond them, the examples, fractions for counts. */
function pick(b: Bound, r: () => number): number {
  if (r() < 0.7) {
    const inside = [b.min, b.max, b.min + (b.max - b.min) * r() ** 4, Math.round(b.min + (b.max - b.min) * r() ** 4)];
    return inside[Math.floor(r() * inside.length)];
  }
  const choices = [
    b.min,
    b.max,
    b.min + (b.max - b.min) * r(),
    Math.round(b.min + (b.max - b.min) * r()),
    b.min - 1,
    b.max + 1,
    b.min / 2,
    0,
    0.0005,
    0.5,
    1e9,
    1e12,
    2 ** 31,
    -1,
    1 + r(),
  ];
  return choices[Math.floor(r() * choices.length)];
}

test('seeded fuzz: every generated spec that validates is accepted by the node agent', () => {
  const seed = Number(process.env.BERTH_FUZZ_SEED ?? 20261205);
  const r = rng(seed);
  let accepted = 0;
  let refused = 0;
  for (let run = 0; run < 600; run++) {
    const svc = baseService();
    const n = 1 + Math.floor(r() * 6);
    for (let i = 0; i < n; i++) {
      const f = FIELDS[Math.floor(r() * FIELDS.length)];
      setPath(svc, f.path, pick(f.bound, r));
    }
    if (r() < 0.3) svc.variants = { canary: { replicas: Math.floor(r() * 3), stopGracePeriodSeconds: pick(BOUNDS.stopGracePeriodSeconds, r) } };
    const text = specText(svc);
    const result = validateSpecText(text, file);
    if (!result.ok) {
      refused++;
      continue;
    }
    accepted++;
    try {
      agentAccepts(result.spec);
    } catch (e) {
      assert.fail(`run ${run} (seed ${seed}): validate accepted a spec the agent refuses: ${String(e)}\n${text}`);
    }
  }
  assert.ok(accepted > 100 && refused > 100, `accepted ${accepted}, refused ${refused}: the fuzz should exercise both`);
});
