// Policies rendered as Kyverno ClusterPolicies: valid against the kyverno.io/v1 schema, cluster-
// scoped, scoped to the app's Deployments, and — the point — a rendered pattern gives the rendered
// Deployment the verdict Berth gives the service (checked with Berth's own Kyverno-pattern matcher).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { checkPolicies, loadSpec, matchPattern } from '../../../../src/contract/index.js';
import { renderKubernetes, validateObjects, type K8sObject } from '../../../../src/targets/kubernetes/index.js';
import { tempApp } from './helpers.js';

const SPEC = `app: shop
services:
  web:
    run: node web.js
    port: 8080
    replicas: 3
    image: registry.example.com/shop/web:1.4.2
    labels: { owner: web-team, tier: front }
    resources: { memoryMiB: 256 }
    probes:
      liveness: { http: { path: /healthz } }
  worker:
    run: node worker.js
    image: registry.example.com/shop/worker:latest
    labels: { tier: back }
    resources: { memoryMiB: 64 }
policies:
  - name: basics
    action: enforce
    rules:
      - name: owner
        validate: { message: owner label, pattern: { labels: { owner: "?*" } } }
      - name: no-latest
        validate: { message: pin the image, pattern: { "=(image)": "!*:latest" } }
      - name: memory
        validate: { message: enough memory, pattern: { resources: { memoryMiB: ">=128" } } }
      - name: liveness
        validate: { message: liveness probe, pattern: { probes: { liveness: "?*" } } }
      - name: front-replicas
        match: { labels: { tier: front } }
        validate: { message: two or more, pattern: { replicas: ">=2" } }
  - name: audit-only
    action: audit
    rules:
      - name: small
        match: { names: [work*] }
        validate: { message: not too small, deny: { conditions: { any: [{ key: resources.memoryMiB, operator: LessThan, value: 100 }] } } }
  - name: prod
    action: enforce
    rules:
      - name: replicas
        match: { environments: [prod] }
        validate: { message: prod replicas, pattern: { replicas: ">=2" } }
      - name: env-vars
        validate: { message: no debug, pattern: { env: { "=(DEBUG)": "!true" } } }
environments:
  prod: {}
`;

async function render(env?: string, set: string[] = []) {
  const dir = tempApp({ 'berth.yaml': SPEC });
  const res = await loadSpec(join(dir, 'berth.yaml'), { env });
  if (!res.ok) throw new Error(JSON.stringify(res.errors));
  const check = checkPolicies({ spec: res.spec, file: res.file, dir: res.dir, env });
  const result = await renderKubernetes({ spec: res.spec, dir: res.dir, env, set });
  return { result, check };
}

type Policy = K8sObject & { spec: { validationFailureAction: string; rules: { name: string; match: unknown; validate: { pattern?: unknown; deny?: unknown } }[] } };
const policies = (objects: K8sObject[]) => objects.filter((o) => o.kind === 'ClusterPolicy') as Policy[];

test('every policy becomes a ClusterPolicy that passes the published kyverno.io/v1 schema', async () => {
  const { result } = await render();
  const ps = policies(result.objects);
  assert.deepEqual(ps.map((p) => [p.metadata.name, p.spec.validationFailureAction]), [
    ['shop-audit-only', 'Audit'],
    ['shop-basics', 'Enforce'],
  ]);
  assert.deepEqual(await validateObjects(ps), []);
  // Applied right after namespaces, before the workloads they check.
  assert.equal(result.objects.findIndex((o) => o.kind === 'ClusterPolicy'), 0);
});

test('a rendered pattern gives each Deployment the verdict Berth gives its service', async () => {
  const { result, check } = await render();
  const deployments = result.objects.filter((o) => o.kind === 'Deployment');
  const basics = policies(result.objects).find((p) => p.metadata.name === 'shop-basics')!;
  let compared = 0;
  for (const rule of basics.spec.rules) {
    for (const d of deployments) {
      const berth = check.evaluation.results.find((r) => r.policy === 'basics' && r.rule === rule.name && r.service === d.metadata.name);
      if (!berth) continue; // not matched by Berth: the Kyverno match must not select it either
      const kyverno = matchPattern(d, rule.validate.pattern) === 'ok' ? 'pass' : 'fail';
      assert.equal(kyverno, berth.result, `${rule.name} on ${d.metadata.name}`);
      compared++;
    }
  }
  assert.equal(compared, 9, 'four rules on two services, one on the front service');
  assert.deepEqual(
    check.evaluation.violations.map((v) => `${v.rule}:${v.service}`).sort(),
    ['liveness:worker', 'memory:worker', 'no-latest:worker', 'owner:worker', 'small:worker'],
  );
});

test('selection: the app, kinds, names (and their variants), labels; deny keys as JMESPath with units', async () => {
  const { result } = await render();
  const audit = policies(result.objects).find((p) => p.metadata.name === 'shop-audit-only')!;
  assert.deepEqual(audit.spec.rules[0].match, { any: [{ resources: { kinds: ['Deployment'], names: ['work*', 'work*.*'], selector: { matchLabels: { 'app.kubernetes.io/part-of': 'shop' } } } }] });
  assert.deepEqual(audit.spec.rules[0].validate.deny, {
    conditions: { any: [{ key: "{{ request.object.spec.template.spec.containers[?name=='app'] | [0].resources.limits.memory }}", operator: 'LessThan', value: '100Mi' }] },
  });
  const front = policies(result.objects).find((p) => p.metadata.name === 'shop-basics')!.spec.rules.find((r) => r.name === 'front-replicas')!;
  assert.deepEqual(front.match, { any: [{ resources: { kinds: ['Deployment'], selector: { matchLabels: { tier: 'front', 'app.kubernetes.io/part-of': 'shop' } } } }] });
});

test('a rule on a field with no Deployment counterpart is not rendered, with a warning; environment rules only for their environment', async () => {
  const { result } = await render();
  assert.ok(result.warnings.some((w) => w.path === 'policies.prod.env-vars' && /not rendered for Kyverno: `env`/.test(w.message)), JSON.stringify(result.warnings));
  assert.equal(policies(result.objects).some((p) => p.metadata.name === 'shop-prod'), false, 'no rule of prod applies without --env prod');
  const prod = await render('prod');
  const p = policies(prod.result.objects).find((x) => x.metadata.name === 'shop-prod')!;
  assert.deepEqual(p.spec.rules.map((r) => r.name), ['replicas']);
  assert.deepEqual(p.spec.rules[0].validate.pattern, { spec: { replicas: '>=2' } });
});

test('with a namespace: the ClusterPolicy stays cluster-scoped and matches that namespace only', async () => {
  const { result } = await render(undefined, ['namespace=shop-staging']);
  for (const p of policies(result.objects)) {
    assert.equal(p.metadata.namespace, undefined);
    const m = p.spec.rules[0].match as { any: { resources: { namespaces?: string[] } }[] };
    assert.deepEqual(m.any[0].resources.namespaces, ['shop-staging']);
  }
});

test('service labels reach the Deployment and its pods; Berth labels cannot be overridden', async () => {
  const { result } = await render();
  const web = result.objects.find((o) => o.kind === 'Deployment' && o.metadata.name === 'web') as K8sObject & { spec: { template: { metadata: { labels: Record<string, string> } } } };
  assert.equal(web.metadata.labels?.owner, 'web-team');
  assert.equal(web.spec.template.metadata.labels.owner, 'web-team');
  assert.equal(web.metadata.labels?.['app.kubernetes.io/managed-by'], 'berth');
});
