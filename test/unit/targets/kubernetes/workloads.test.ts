// Rendering of every service field the contract has today: command, env, envFile, uses, sidecars,
// probes (all handlers), resources, grace period, rollout, restart, placement, image, ports.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ServiceSchema } from '../../../../src/contract/index.js';
import { validateObjects } from '../../../../src/targets/kubernetes/index.js';
import { find, renderYaml } from './helpers.js';

const FULL = `
app: demo
services:
  api:
    run: [node, server.js, --greeting, "$(not expanded)"]
    cwd: ./api
    image: registry.example.com/team/api:1.2.3
    env: { MODE: "on", RETRIES: 3, PATTERN: "$(HOME)/x", SELF: "http://$(HOST):9000" }
    envFile: api.env
    port: 9000
    replicas: 3
    uses: [db]
    sidecars:
      - { name: tail, run: node tail.js, cwd: tools, env: { MODE: sidecar } }
    probes:
      startup:   { exec: { command: "test -f /tmp/ready" }, periodSeconds: 0.25, failureThreshold: 40, initialDelaySeconds: 0.5 }
      readiness: { http: { path: /ready, port: 9001, scheme: https, headers: { X-B: b, X-A: a } }, periodSeconds: 2, timeoutSeconds: 0.5, successThreshold: 2 }
      liveness:  { grpc: { service: health } }
    resources: { memoryMiB: 512, cpuMillis: 250 }
    stopGracePeriodSeconds: 2.5
    rollout: { maxSurge: "25%", maxUnavailable: 1 }
    restart: { policy: on-failure, backoff: { initialSeconds: 1 } }
    placement: { nodeSelector: { disk: ssd, zone: a }, antiAffinity: required }
  db:
    run: [postgres, -D, /data]
    port: 5432
    probes:
      liveness: { tcp: {} }
    placement: { antiAffinity: preferred }
  worker:
    run: node worker.js
`;

async function full(opts: { set?: string[] } = {}) {
  return renderYaml(FULL, { files: { 'api.env': 'TOKEN=abc\nMODE=from-file\n' }, ...opts });
}

test('every rendered object passes its published schema', async () => {
  const r = await full();
  assert.deepEqual(await validateObjects(r.objects), []);
  assert.deepEqual(
    r.objects.map((o) => `${o.kind}/${o.metadata.name}`),
    ['Secret/api-env', 'Service/api', 'Service/db', 'Deployment/api', 'Deployment/db', 'Deployment/worker', 'PodDisruptionBudget/api'],
  );
});

test('Deployment: command from run, image, env with BERTH_* and service URLs, envFile as a Secret (never a ConfigMap)', async () => {
  const r = await full();
  const d = find(r, 'Deployment', 'api');
  const c = d.spec.template.spec.containers[0];
  assert.equal(c.name, 'app');
  assert.equal(c.image, 'registry.example.com/team/api:1.2.3');
  assert.deepEqual(c.command, ['node', 'server.js', '--greeting', '$$(not expanded)']);
  assert.equal(c.workingDir, undefined, 'a custom image keeps its own working directory');
  const env = Object.fromEntries(c.env.map((e: { name: string; value?: string; valueFrom?: unknown }) => [e.name, e.value ?? e.valueFrom]));
  assert.equal(env.MODE, 'on');
  assert.equal(env.RETRIES, '3');
  assert.equal(env.PATTERN, '$$(HOME)/x');
  assert.equal(env.SELF, 'http://$(HOST):9000', 'per-instance variables expand on the cluster as locally');
  assert.equal(env.PORT, '9000');
  assert.deepEqual(env.HOST, { fieldRef: { fieldPath: 'status.podIP' } }, "the pod's own address, as locally the instance's");
  assert.equal(env.BERTH_VARIANT, 'default');
  assert.equal(env.BERTH_APP, 'demo');
  assert.equal(env.BERTH_SERVICE, 'api');
  assert.equal(env.BERTH_REVISION, d.metadata.labels['app.kubernetes.io/version']);
  assert.equal(env.BERTH_DB_URL, 'http://db:5432');
  assert.deepEqual(env.BERTH_INSTANCE, { fieldRef: { fieldPath: 'metadata.name' } });
  const names: string[] = c.env.map((e: { name: string }) => e.name);
  assert.deepEqual(names.slice(0, 4), ['HOST', 'BERTH_INSTANCE', 'BERTH_NODE', 'BERTH_VARIANT'], 'per-instance variables first, so $(HOST) can refer to them');
  assert.deepEqual(names.slice(4), [...names.slice(4)].sort(), 'then sorted');
  assert.deepEqual(c.envFrom, [{ secretRef: { name: 'api-env' } }]);
  const b64 = (v: string) => Buffer.from(v).toString('base64');
  assert.deepEqual(find(r, 'Secret', 'api-env').data, { MODE: b64('from-file'), TOKEN: b64('abc') });
});

test('labels, selector, replicas, rollout, resources, grace period', async () => {
  const r = await full();
  const d = find(r, 'Deployment', 'api');
  const labels = d.metadata.labels;
  assert.equal(labels['app.kubernetes.io/name'], 'api');
  assert.equal(labels['app.kubernetes.io/instance'], 'demo-api');
  assert.equal(labels['app.kubernetes.io/part-of'], 'demo');
  assert.equal(labels['app.kubernetes.io/managed-by'], 'berth');
  assert.match(labels['app.kubernetes.io/version'], /^[0-9a-f]{10}$/);
  assert.deepEqual(d.spec.selector.matchLabels, { 'app.kubernetes.io/instance': 'demo-api', 'app.kubernetes.io/name': 'api', 'berth.dev/variant': 'default' });
  assert.equal(labels['berth.dev/variant'], 'default');
  assert.equal(d.spec.replicas, 3);
  assert.deepEqual(d.spec.strategy, { type: 'RollingUpdate', rollingUpdate: { maxSurge: '25%', maxUnavailable: 1 } });
  const c = d.spec.template.spec.containers[0];
  assert.deepEqual(c.resources, { limits: { cpu: '250m', memory: '512Mi' }, requests: { cpu: '250m', memory: '512Mi' } });
  assert.equal(d.spec.template.spec.terminationGracePeriodSeconds, 3);
  assert.ok(r.warnings.some((w) => w.path === 'services.api.stopGracePeriodSeconds'));
  const serviceSelector = { 'app.kubernetes.io/instance': 'demo-api', 'app.kubernetes.io/name': 'api' };
  assert.deepEqual(find(r, 'PodDisruptionBudget', 'api').spec, { maxUnavailable: 1, selector: { matchLabels: serviceSelector } });
  assert.deepEqual(find(r, 'Service', 'api').spec.selector, serviceSelector, 'the Service selects every variant');
  assert.equal(find(r, 'Service', 'api').metadata.labels['berth.dev/variant'], undefined);
  assert.ok(!r.objects.some((o) => o.kind === 'PodDisruptionBudget' && o.metadata.name === 'db'), 'no PDB for one replica');
  assert.ok(!r.objects.some((o) => o.kind === 'Service' && o.metadata.name === 'worker'), 'no Service without a port');
  const svc = find(r, 'Service', 'api');
  assert.deepEqual(svc.spec.ports, [{ name: 'http', port: 9000, targetPort: 'http', protocol: 'TCP', appProtocol: 'http' }]);
});

test('user sidecars become native sidecar containers', async () => {
  const r = await renderYaml(`
app: demo
services:
  api:
    run: node server.js
    port: 9000
    sidecars:
      - { name: tail, run: node tail.js, cwd: tools, env: { MODE: sidecar } }
      - { name: up, run: node up.js, cwd: ../elsewhere }
`);
  const spec = find(r, 'Deployment', 'api').spec.template.spec;
  const [tail, up] = spec.initContainers;
  assert.equal(tail.name, 'tail');
  assert.equal(tail.restartPolicy, 'Always');
  assert.equal(tail.image, spec.containers[0].image);
  assert.deepEqual(tail.command, ['node', 'tail.js']);
  assert.equal(tail.workingDir, '/app/tools');
  const env = Object.fromEntries(tail.env.map((e: { name: string; value?: string }) => [e.name, e.value]));
  assert.equal(env.MODE, 'sidecar');
  assert.equal(env.PORT, '9000', "a sidecar sees the app's environment, as locally");
  assert.equal(up.workingDir, '/app');
  assert.ok(r.warnings.some((w) => w.path === 'services.api.sidecars' && /outside/.test(w.message)));
});

test('probes map field for field; fractional seconds are rounded up with a warning about the failure window', async () => {
  const r = await full();
  const c = find(r, 'Deployment', 'api').spec.template.spec.containers[0];
  // The cluster probe profile (default) keeps the failure budget: 40 × 0.25 s = 10 × 1 s.
  assert.deepEqual(c.startupProbe, {
    exec: { command: ['sh', '-c', 'test -f /tmp/ready'] },
    initialDelaySeconds: 1,
    periodSeconds: 1,
    timeoutSeconds: 1,
    successThreshold: 1,
    failureThreshold: 10,
  });
  assert.deepEqual(c.readinessProbe, {
    httpGet: { path: '/ready', port: 9001, scheme: 'HTTPS', httpHeaders: [{ name: 'X-A', value: 'a' }, { name: 'X-B', value: 'b' }] },
    initialDelaySeconds: 0,
    periodSeconds: 2,
    timeoutSeconds: 1,
    successThreshold: 2,
    failureThreshold: 3,
  });
  assert.deepEqual(c.livenessProbe.grpc, { port: 9000, service: 'health' });
  assert.equal(c.livenessProbe.periodSeconds, 1, "Berth's 1 s default is written out (Kubernetes' default is 10 s)");
  const db = find(r, 'Deployment', 'db').spec.template.spec.containers[0];
  assert.deepEqual(db.livenessProbe.tcpSocket, { port: 5432 });
  const window = r.warnings.find((w) => w.path === 'services.api.probes.startup.periodSeconds');
  assert.ok(window);
  assert.match(window.message, /probe profile cluster.*40 × 0\.25 s = 10 s locally, 10 × 1 s = 10 s on the cluster — the same failure budget/);
  assert.ok(r.warnings.some((w) => w.path === 'services.api.probes.startup.initialDelaySeconds'));
  assert.ok(r.warnings.some((w) => w.path === 'services.api.probes.readiness.timeoutSeconds'));
});

test('restart policy and back-off that a Deployment cannot express are warnings', async () => {
  const r = await full();
  assert.ok(r.warnings.some((w) => w.path === 'services.api.restart.policy' && /on-failure/.test(w.message)));
  assert.ok(r.warnings.some((w) => w.path === 'services.api.restart.backoff' && /CrashLoopBackOff/.test(w.message)));
  assert.ok(!r.warnings.some((w) => w.path.startsWith('services.db.restart')), 'defaults need no warning');
});

test('placement: nodeSelector, anti-affinity (required / preferred), spread over nodes', async () => {
  const r = await full();
  const api = find(r, 'Deployment', 'api').spec.template.spec;
  assert.deepEqual(api.nodeSelector, { disk: 'ssd', zone: 'a' });
  const selector = { matchLabels: { 'app.kubernetes.io/instance': 'demo-api', 'app.kubernetes.io/name': 'api' } };
  assert.deepEqual(api.affinity, { podAntiAffinity: { requiredDuringSchedulingIgnoredDuringExecution: [{ labelSelector: selector, topologyKey: 'kubernetes.io/hostname' }] } });
  assert.deepEqual(api.topologySpreadConstraints, [{ maxSkew: 1, topologyKey: 'kubernetes.io/hostname', whenUnsatisfiable: 'ScheduleAnyway', labelSelector: selector }]);
  const db = find(r, 'Deployment', 'db').spec.template.spec;
  assert.equal(db.affinity.podAntiAffinity.preferredDuringSchedulingIgnoredDuringExecution[0].weight, 100);
  assert.equal(db.topologySpreadConstraints, undefined, 'one replica: nothing to spread');
});

test('image: absent → <app>-<service>:<source hash> with a warning naming it; the spec field validates references', async () => {
  const r = await full();
  const worker = find(r, 'Deployment', 'worker');
  const image: string = worker.spec.template.spec.containers[0].image;
  assert.match(image, /^demo-worker:[0-9a-f]{12}$/);
  assert.equal(worker.spec.template.spec.containers[0].workingDir, '/app');
  assert.ok(r.warnings.some((w) => w.path === 'services.worker.image' && w.message.includes(image) && w.message.includes('berth build worker')));
  assert.ok(!r.warnings.some((w) => w.path === 'services.api.image'));
  const build = r.images.find((i) => i.service === 'worker')?.build;
  assert.deepEqual({ context: build?.context, argv: build?.argv }, { context: '.', argv: ['node', 'worker.js'] });
  assert.equal(r.images.find((i) => i.service === 'api')?.build, undefined);
  for (const ok of ['nginx', 'nginx:1.27', 'ghcr.io/acme/web:v1.2.3', 'localhost:5000/a/b', `web@sha256:${'a'.repeat(64)}`]) {
    assert.ok(ServiceSchema.safeParse({ run: 'x', image: ok }).success, ok);
  }
  for (const bad of ['', 'Web:1', 'web:', 'web::1', 'a b']) assert.ok(!ServiceSchema.safeParse({ run: 'x', image: bad }).success, bad);
});

test('probe profile local rounds each period up on its own (the failure budget grows, and the warning says so)', async () => {
  const r = await full({ set: ['probeProfile=local'] });
  const c = find(r, 'Deployment', 'api').spec.template.spec.containers[0];
  assert.equal(c.startupProbe.failureThreshold, 40);
  const window = r.warnings.find((w) => w.path === 'services.api.probes.startup.periodSeconds');
  assert.match(window?.message ?? '', /probe profile local.*40 × 1 s = 40 s on the cluster — the app gets longer to start/);
});

test('replicas alone do not change the revision; the template does', async () => {
  const a = await renderYaml('app: x\nservices:\n  web: { run: node w.js, port: 8080, replicas: 1 }\n');
  const b = await renderYaml('app: x\nservices:\n  web: { run: node w.js, port: 8080, replicas: 5 }\n');
  const c = await renderYaml('app: x\nservices:\n  web: { run: node w2.js, port: 8080, replicas: 1 }\n');
  const rev = (r: typeof a) => find(r, 'Deployment', 'web').metadata.labels['app.kubernetes.io/version'];
  assert.equal(rev(a), rev(b));
  assert.notEqual(rev(a), rev(c));
});
