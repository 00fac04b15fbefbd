// Contract test of `berth deploy` against a STAND-IN Kubernetes API server (no cluster runs here):
// a real HTTP server that checks every request's method, path, content type, field manager and
// body, serves discovery, lists by label selector and reports Deployment rollouts. It pins the
// protocol Berth speaks (server-side apply, prune by label, rollout wait) — not an end-to-end test.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import { spawn } from 'node:child_process';
import { cpSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { ROOT, BERTH } from '../unit/targets/kubernetes/helpers.js';

interface Logged {
  method: string;
  path: string;
  query: URLSearchParams;
  contentType?: string;
  auth?: string;
  body?: Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any -- manifests
}

const TOKEN = 'stand-in-token';
const RESOURCES: Record<string, { kind: string; name: string }[]> = {
  '/api/v1': [
    { kind: 'ConfigMap', name: 'configmaps' },
    { kind: 'Service', name: 'services' },
    { kind: 'Namespace', name: 'namespaces' },
  ],
  '/apis/apps/v1': [{ kind: 'Deployment', name: 'deployments' }],
  '/apis/policy/v1': [{ kind: 'PodDisruptionBudget', name: 'poddisruptionbudgets' }],
  '/apis/autoscaling/v2': [{ kind: 'HorizontalPodAutoscaler', name: 'horizontalpodautoscalers' }],
};

/** The stand-in: objects by path, a request log, and knobs for failures. */
class StandIn {
  log: Logged[] = [];
  objects = new Map<string, Record<string, any>>(); // eslint-disable-line @typescript-eslint/no-explicit-any
  reads = new Map<string, number>();
  failPatchOf?: string;
  server: Server = createServer((req, res) => void this.handle(req).then(([status, body]) => {
    res.writeHead(status, { 'content-type': 'application/json' });
    res.end(JSON.stringify(body));
  }));

  reset(): void {
    this.log = [];
    this.objects.clear();
    this.reads.clear();
    this.failPatchOf = undefined;
  }

  private async handle(req: IncomingMessage): Promise<[number, unknown]> {
    const url = new URL(req.url ?? '/', 'http://x');
    let text = '';
    for await (const chunk of req) text += chunk;
    const entry: Logged = { method: req.method ?? '', path: url.pathname, query: url.searchParams, contentType: req.headers['content-type'], auth: req.headers.authorization };
    if (text) entry.body = parseYaml(text);
    this.log.push(entry);
    if (req.headers.authorization !== `Bearer ${TOKEN}`) return [401, { kind: 'Status', code: 401, message: 'Unauthorized' }];
    const discovery = RESOURCES[url.pathname];
    if (req.method === 'GET' && discovery) {
      return [200, { kind: 'APIResourceList', groupVersion: url.pathname.replace(/^\/apis?\//, ''), resources: discovery.map((r) => ({ name: r.name, singularName: '', namespaced: r.kind !== 'Namespace', kind: r.kind, verbs: ['create', 'delete', 'get', 'list', 'patch'] })) }];
    }
    const nsPath = /^\/api\/v1\/namespaces\/([^/]+)$/.exec(url.pathname);
    if (nsPath && req.method === 'PATCH') {
      if (url.searchParams.get('dryRun') !== 'All') this.objects.set(url.pathname, entry.body ?? {});
      return [200, entry.body ?? {}];
    }
    const m = /^(\/apis?(?:\/[^/]+)?\/v[0-9a-z]+)\/namespaces\/([^/]+)\/([^/]+)(?:\/([^/]+))?$/.exec(url.pathname);
    if (!m || !RESOURCES[m[1]]) return [404, { kind: 'Status', code: 404, message: `the server could not find the requested resource ${url.pathname}` }];
    const [, , , plural, name] = m;
    const key = url.pathname;
    if (req.method === 'PATCH' && name) {
      if (this.failPatchOf === name) return [422, { kind: 'Status', code: 422, message: `${plural} "${name}" is invalid: stand-in refuses it` }];
      const body = entry.body ?? {};
      if (url.searchParams.get('dryRun') !== 'All') {
        const prev = this.objects.get(key);
        this.objects.set(key, { ...body, metadata: { ...body.metadata, generation: (prev?.metadata?.generation ?? 0) + 1 } });
      }
      return [200, body];
    }
    if (req.method === 'GET' && name) {
      const obj = this.objects.get(key);
      if (!obj) return [404, { kind: 'Status', code: 404, message: 'not found' }];
      const n = (this.reads.get(key) ?? 0) + 1;
      this.reads.set(key, n);
      if (plural === 'deployments') {
        const want = obj.spec?.replicas ?? 1;
        // First read: the rollout is under way; then it is complete.
        obj.status = n === 1 ? { observedGeneration: obj.metadata.generation, replicas: want, updatedReplicas: 0, availableReplicas: 0 } : { observedGeneration: obj.metadata.generation, replicas: want, updatedReplicas: want, readyReplicas: want, availableReplicas: want };
      }
      return [200, obj];
    }
    if (req.method === 'GET') {
      const selector = (url.searchParams.get('labelSelector') ?? '').split(',').filter(Boolean).map((kv) => kv.split('='));
      const prefix = `${key}/`;
      const items = [...this.objects.entries()].filter(([k, o]) => k.startsWith(prefix) && selector.every(([lk, lv]) => o.metadata?.labels?.[lk] === lv)).map(([, o]) => o);
      return [200, { kind: 'List', apiVersion: 'v1', metadata: {}, items }];
    }
    if (req.method === 'DELETE' && name) {
      this.objects.delete(key);
      return [200, { kind: 'Status', status: 'Success' }];
    }
    return [405, { kind: 'Status', code: 405, message: 'method not allowed' }];
  }
}

const standIn = new StandIn();
let kubeconfig = '';
let app = '';

before(async () => {
  await new Promise<void>((r) => standIn.server.listen(0, '127.0.0.1', r));
  const port = (standIn.server.address() as { port: number }).port;
  const dir = mkdtempSync(join(tmpdir(), 'berth-kube-'));
  kubeconfig = join(dir, 'config');
  writeFileSync(
    kubeconfig,
    [
      'apiVersion: v1',
      'kind: Config',
      'clusters: [{ name: stand-in, cluster: { server: "http://127.0.0.1:' + port + '", insecure-skip-tls-verify: true } }]',
      `users: [{ name: tester, user: { token: ${TOKEN} } }]`,
      'contexts: [{ name: stand-in, context: { cluster: stand-in, user: tester, namespace: from-context } }, { name: other, context: { cluster: stand-in, user: tester } }]',
      'current-context: other',
      '',
    ].join('\n'),
  );
  app = mkdtempSync(join(tmpdir(), 'berth-kube-shop-'));
  cpSync(join(ROOT, 'examples/shop'), app, { recursive: true, filter: (src) => !src.includes('.berth') });
});

after(() => new Promise<void>((r) => standIn.server.close(() => r())));

function berth(args: string[], env: Record<string, string | undefined> = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const merged: Record<string, string | undefined> = { ...process.env, KUBECONFIG: kubeconfig, BERTH_ROLLOUT_POLL_MS: '20', NO_COLOR: '1', ...env };
    for (const k of Object.keys(merged)) if (merged[k] === undefined) delete merged[k];
    const child = spawn(process.execPath, [BERTH, ...args], { env: merged as NodeJS.ProcessEnv });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr }));
  });
}

const applies = () => standIn.log.filter((l) => l.method === 'PATCH');

test('deploy: server-side apply of every object, field manager berth, in dependency order; prune by label; wait for rollouts', async () => {
  standIn.reset();
  const labels = { 'app.kubernetes.io/part-of': 'shop', 'app.kubernetes.io/managed-by': 'berth' };
  standIn.objects.set('/apis/apps/v1/namespaces/from-context/deployments/legacy', { apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'legacy', labels } });
  standIn.objects.set('/api/v1/namespaces/from-context/configmaps/not-ours', { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'not-ours', labels: { 'app.kubernetes.io/part-of': 'other' } } });
  const r = await berth(['deploy', '--target', 'kubernetes', '-f', join(app, 'berth.yaml'), '--context', 'stand-in', '--json', '--timeout', '30']);
  assert.equal(r.code, 0, r.stderr);

  const patched = applies();
  assert.deepEqual(
    patched.map((l) => l.path),
    [
      '/api/v1/namespaces/from-context/services/inventory',
      '/api/v1/namespaces/from-context/services/orders',
      '/api/v1/namespaces/from-context/services/web',
      '/apis/apps/v1/namespaces/from-context/deployments/inventory',
      '/apis/apps/v1/namespaces/from-context/deployments/orders',
      '/apis/apps/v1/namespaces/from-context/deployments/web',
      '/apis/policy/v1/namespaces/from-context/poddisruptionbudgets/web',
    ],
  );
  for (const l of patched) {
    assert.equal(l.contentType, 'application/apply-patch+yaml', l.path);
    assert.equal(l.query.get('fieldManager'), 'berth', l.path);
    assert.equal(l.query.get('force'), 'true', l.path);
    assert.equal(l.query.get('dryRun'), null, l.path);
    assert.equal(l.auth, `Bearer ${TOKEN}`);
    assert.equal(l.body?.metadata?.namespace, 'from-context');
    assert.equal(l.body?.metadata?.name, l.path.split('/').pop());
    assert.equal(l.body?.metadata?.labels?.['app.kubernetes.io/managed-by'], 'berth');
  }
  const web = patched.find((l) => l.path.endsWith('/deployments/web'))!.body!;
  assert.equal(web.apiVersion, 'apps/v1');
  assert.equal(web.kind, 'Deployment');
  assert.equal(web.spec.replicas, 2);
  assert.equal(web.spec.template.spec.containers[0].readinessProbe.httpGet.path, '/ready');

  const lists = standIn.log.filter((l) => l.method === 'GET' && l.query.has('labelSelector'));
  assert.ok(lists.length >= 4, 'lists every served kind to prune');
  for (const l of lists) assert.equal(l.query.get('labelSelector'), 'app.kubernetes.io/part-of=shop,app.kubernetes.io/managed-by=berth');
  const deletes = standIn.log.filter((l) => l.method === 'DELETE');
  assert.deepEqual(deletes.map((l) => l.path), ['/apis/apps/v1/namespaces/from-context/deployments/legacy']);
  assert.ok(standIn.objects.has('/api/v1/namespaces/from-context/configmaps/not-ours'), "another app's objects are left alone");

  const report = JSON.parse(r.stdout);
  assert.equal(report.namespace, 'from-context');
  assert.equal(report.context, 'stand-in');
  assert.equal(report.applied.length, 7);
  assert.deepEqual(report.pruned, [{ apiVersion: 'apps/v1', kind: 'Deployment', name: 'legacy', namespace: 'from-context' }]);
  assert.deepEqual(report.rollouts.map((x: { name: string }) => x.name), ['inventory', 'orders', 'web']);
  assert.match(r.stderr, /Deployment\/web: 0\/2 updated, 0\/2 available/);
  assert.match(r.stderr, /Deployment\/web: 2\/2 updated, 2\/2 available — rolled out/);
  assert.match(r.stderr, /pruned Deployment\/legacy/);
});

test('deploy --dry-run: dryRun=All on every apply; nothing deleted, nothing waited for; --namespace wins', async () => {
  standIn.reset();
  const r = await berth(['deploy', '-f', join(app, 'berth.yaml'), '--context', 'stand-in', '--namespace', 'shop', '--dry-run', '--json', '--env', 'prod']);
  assert.equal(r.code, 0, r.stderr);
  const patched = applies();
  assert.equal(patched.length, 7);
  for (const l of patched) {
    assert.equal(l.query.get('dryRun'), 'All');
    assert.ok(l.path.includes('/namespaces/shop/'), l.path);
  }
  assert.equal(patched.find((l) => l.path.endsWith('/deployments/web'))!.body!.spec.replicas, 4, 'the prod overlay applies');
  assert.equal(standIn.log.filter((l) => l.method === 'DELETE').length, 0);
  assert.equal(standIn.reads.size, 0);
  assert.equal(JSON.parse(r.stdout).dryRun, true);
});

test('deploy: an object the API server refuses fails with exit 1 and its message', async () => {
  standIn.reset();
  standIn.failPatchOf = 'orders';
  const r = await berth(['deploy', '-f', join(app, 'berth.yaml'), '--context', 'stand-in']);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /applying Service\/orders failed: .*stand-in refuses it/);
});

test('deploy: unknown context is an error naming the known ones; an invalid spec exits 2 before any request', async () => {
  standIn.reset();
  const r = await berth(['deploy', '-f', join(app, 'berth.yaml'), '--context', 'nope']);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /no context `nope`/);
  assert.match(r.stderr, /stand-in, other/);
  const bad = mkdtempSync(join(tmpdir(), 'berth-kube-bad-'));
  writeFileSync(join(bad, 'berth.yaml'), 'app: shop\nservices:\n  web: { run: node w.js, replicas: -1 }\n');
  const r2 = await berth(['deploy', '-f', join(bad, 'berth.yaml'), '--context', 'stand-in']);
  assert.equal(r2.code, 2);
  assert.match(r2.stderr, /berth\.yaml:3:\d+/);
  assert.equal(standIn.log.length, 0, 'nothing reached the API server');
});

test('deploy --create-namespace applies the Namespace first, cluster-scoped, with the same field manager', async () => {
  standIn.reset();
  const r = await berth(['deploy', '-f', join(app, 'berth.yaml'), '--context', 'stand-in', '--namespace', 'shop-new', '--create-namespace', '--no-wait']);
  assert.equal(r.code, 0, r.stderr);
  const [first, second] = applies();
  assert.equal(first.path, '/api/v1/namespaces/shop-new');
  assert.equal(first.contentType, 'application/apply-patch+yaml');
  assert.equal(first.query.get('fieldManager'), 'berth');
  assert.deepEqual(first.body, { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'shop-new', labels: { 'app.kubernetes.io/managed-by': 'berth' } } });
  assert.equal(second.path, '/api/v1/namespaces/shop-new/services/inventory');
  assert.equal(standIn.reads.size, 0, '--no-wait: no rollout reads');
});

/** Lines of stderr that are not render warnings. */
const errorLines = (stderr: string) => stderr.split('\n').filter((l) => l && !l.startsWith('warning:'));

test('deploy without a kubeconfig: one line saying what was looked at, exit 1, no TLS talk', async () => {
  const home = mkdtempSync(join(tmpdir(), 'berth-nohome-'));
  const r = await berth(['deploy', '-f', join(app, 'berth.yaml')], { KUBECONFIG: undefined, HOME: home });
  assert.equal(r.code, 1, r.stderr);
  const lines = errorLines(r.stderr);
  assert.equal(lines.length, 1, r.stderr);
  assert.match(lines[0], /^error: no kubeconfig: KUBECONFIG is not set and ~\/\.kube\/config does not exist/);
  assert.doesNotMatch(r.stderr, /skipTLSVerify|TLS/i);
});

test('deploy to an unreachable cluster: one line naming the kubeconfig, context, server and cause, exit 1', async () => {
  const closed = createServer();
  await new Promise<void>((r) => closed.listen(0, '127.0.0.1', r));
  const port = (closed.address() as { port: number }).port;
  await new Promise<void>((r) => closed.close(() => r()));
  const dir = mkdtempSync(join(tmpdir(), 'berth-kube-down-'));
  const cfg = join(dir, 'config');
  writeFileSync(cfg, ['apiVersion: v1', 'kind: Config', `clusters: [{ name: gone, cluster: { server: "https://127.0.0.1:${port}" } }]`, `users: [{ name: u, user: { token: t } }]`, 'contexts: [{ name: gone-ctx, context: { cluster: gone, user: u } }]', 'current-context: gone-ctx', ''].join('\n'));
  const r = await berth(['deploy', '-f', join(app, 'berth.yaml')], { KUBECONFIG: cfg });
  assert.equal(r.code, 1, r.stderr);
  const lines = errorLines(r.stderr);
  assert.equal(lines.length, 1, r.stderr);
  assert.ok(lines[0].includes(`cannot reach the cluster of context \`gone-ctx\` (server https://127.0.0.1:${port}) from kubeconfig ${cfg}`), lines[0]);
  assert.match(lines[0], /ECONNREFUSED/);
});

test('deploy --dry-run=server against the mock API server: dryRun=All everywhere; another mode is a usage error', async () => {
  standIn.reset();
  const r = await berth(['deploy', '-f', join(app, 'berth.yaml'), '--context', 'stand-in', '--dry-run=server', '--json']);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(applies().length, 7);
  for (const l of applies()) assert.equal(l.query.get('dryRun'), 'All');
  assert.equal(standIn.objects.size, 0, 'nothing persisted');
  const bad = await berth(['deploy', '-f', join(app, 'berth.yaml'), '--context', 'stand-in', '--dry-run=client']);
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /--dry-run=client is not supported/);
});

test('deploy --diff against the mock API server: server-side dry run, live objects compared, nothing changed', async () => {
  standIn.reset();
  const labels = { 'app.kubernetes.io/part-of': 'shop', 'app.kubernetes.io/managed-by': 'berth' };
  standIn.objects.set('/apis/apps/v1/namespaces/from-context/deployments/legacy', { apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'legacy', labels } });
  const first = await berth(['deploy', '-f', join(app, 'berth.yaml'), '--context', 'stand-in', '--json', '--no-wait']);
  assert.equal(first.code, 0, first.stderr);
  const live = standIn.objects.get('/apis/apps/v1/namespaces/from-context/deployments/web')!;
  live.spec.replicas = 1;
  live.metadata.managedFields = [{ manager: 'berth' }];
  live.metadata.resourceVersion = '42';
  standIn.objects.delete('/api/v1/namespaces/from-context/services/orders');
  standIn.objects.set('/apis/apps/v1/namespaces/from-context/deployments/legacy', { apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'legacy', labels } });
  // The stand-in writes a rollout status on reads: compare everything else.
  const snapshot = () => JSON.stringify([...standIn.objects.entries()].map(([k, v]) => [k, { ...v, status: undefined }]));
  const before = snapshot();
  standIn.log = [];
  const r = await berth(['deploy', '-f', join(app, 'berth.yaml'), '--context', 'stand-in', '--diff']);
  assert.equal(r.code, 0, r.stderr);
  for (const l of applies()) assert.equal(l.query.get('dryRun'), 'All', l.path);
  assert.equal(standIn.log.filter((l) => l.method === 'DELETE').length, 0);
  assert.match(r.stdout, /~~~ Deployment\/web \(changed\)\n[\s\S]*?- +replicas: 1\n\+ +replicas: 2/);
  assert.match(r.stdout, /\+\+\+ Service\/orders \(new\)/);
  assert.match(r.stdout, /--- Deployment\/legacy \(would be pruned\)/);
  assert.doesNotMatch(r.stdout, /Deployment\/inventory|managedFields|resourceVersion/, 'unchanged objects and server-owned fields are not shown');
  assert.match(r.stdout, /3 objects would change .*nothing was applied/);
  assert.equal(snapshot(), before, 'nothing on the cluster changed');
});
