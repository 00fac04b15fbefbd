// Nothing is dropped in silence: a field that no renderer handles gives a "not rendered yet"
// warning (fields at their schema default do not); overlays reproduce each environment exactly;
// YAML output is stable and safe for Kubernetes' YAML 1.1 parser.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parse } from 'yaml';
import { loadSpec, type AppSpec } from '../../../../src/contract/index.js';
import { applyPatch, diffJson, kustomizeLayout, renderObjects, RENDERERS, toYaml, type RenderResult } from '../../../../src/targets/kubernetes/index.js';
import { renderYaml, tempApp } from './helpers.js';
import { join } from 'node:path';

test('a service field no renderer handles is a warning, never silence', async () => {
  const dir = tempApp({ 'berth.yaml': 'app: x\nservices:\n  web: { run: node w.js, port: 8080 }\n' });
  const res = await loadSpec(join(dir, 'berth.yaml'));
  assert.ok(res.ok);
  const spec = structuredClone(res.spec) as AppSpec & Record<string, unknown>;
  (spec.services.web as unknown as Record<string, unknown>).futureField = { on: true };
  spec.futureTopLevel = [1];
  const r = renderObjects({ spec, dir });
  assert.ok(r.warnings.some((w) => w.path === 'services.web.futureField' && /not rendered yet/.test(w.message)));
  assert.ok(r.warnings.some((w) => w.path === 'futureTopLevel' && /not rendered yet/.test(w.message)));
});

test('fields left at their defaults need no warning; every field of the example is handled', async () => {
  const r = await renderYaml('app: x\nservices:\n  web: { run: node w.js, port: 8080 }\n');
  assert.deepEqual(r.warnings.filter((w) => /not rendered yet/.test(w.message)), []);
  const handled = new Set(RENDERERS.flatMap((x) => x.handles));
  for (const f of ['run', 'env', 'envFile', 'image', 'port', 'replicas', 'uses', 'sidecars', 'probes', 'resources', 'stopGracePeriodSeconds', 'rollout', 'placement']) {
    assert.ok(handled.has(f), f);
  }
});

test('watch: (local development only) renders nothing and warns nothing', async () => {
  const r = await renderYaml('app: x\nservices:\n  web: { run: node w.js, port: 8080, watch: { paths: [src] } }\n');
  assert.deepEqual(r.warnings.filter((w) => w.path.includes('watch')), []);
});

test('simulated nodes are explained, not rendered', async () => {
  const r = await renderYaml('app: x\nnodes: 3\nservices:\n  web: { run: node w.js, port: 8080 }\n');
  assert.ok(r.warnings.some((w) => w.path === 'nodes' && /cluster's own nodes/.test(w.message)));
});

test('each overlay, applied to the base, gives exactly the environment rendering', async () => {
  const yaml = `
app: x
services:
  web: { run: node w.js, port: 8080, replicas: 1, env: { A: "1" } }
  extra: { run: node e.js, port: 8081 }
environments:
  prod:
    services:
      web: { replicas: 3, env: { A: "2", B: "3" }, resources: { memoryMiB: 128 } }
      extra: null
  dev:
    services:
      web: { replicas: 1 }
`;
  const dir = tempApp({ 'berth.yaml': yaml });
  const load = async (env?: string) => {
    const res = await loadSpec(join(dir, 'berth.yaml'), { env });
    assert.ok(res.ok, JSON.stringify(!res.ok && res.errors));
    return renderObjects({ spec: res.spec, dir, env });
  };
  const base = await load();
  const envs: Record<string, RenderResult> = { prod: await load('prod'), dev: await load('dev') };
  const layout = kustomizeLayout({ base, envs, specDirFromOut: '..', repoPath: 'deploy', repoUrl: 'https://git.example.com/x.git' });
  for (const env of ['prod', 'dev']) {
    const kustomization = parse(layout.files.get(`overlays/${env}/kustomization.yaml`)!) as { resources: string[]; patches?: { path: string; target?: { kind: string; name: string } }[] };
    assert.equal(kustomization.resources[0], '../../base');
    const result = new Map(base.objects.map((o) => [`${o.kind}/${o.metadata.name}`, o as unknown]));
    for (const p of kustomization.patches ?? []) {
      const doc = parse(layout.files.get(`overlays/${env}/${p.path}`)!) as unknown;
      if (!p.target) {
        const del = doc as { kind: string; metadata: { name: string }; $patch: string };
        assert.equal(del.$patch, 'delete');
        result.delete(`${del.kind}/${del.metadata.name}`);
        continue;
      }
      const k = `${p.target.kind}/${p.target.name}`;
      result.set(k, applyPatch(result.get(k), doc as Parameters<typeof applyPatch>[1]));
    }
    for (const r of kustomization.resources.slice(1)) {
      const o = parse(layout.files.get(`overlays/${env}/${r}`)!) as { kind: string; metadata: { name: string } };
      result.set(`${o.kind}/${o.metadata.name}`, o);
    }
    const expected = new Map(envs[env].objects.map((o) => [`${o.kind}/${o.metadata.name}`, JSON.parse(JSON.stringify(o)) as unknown]));
    assert.deepEqual(new Map([...result].map(([k, v]) => [k, JSON.parse(JSON.stringify(v)) as unknown])), expected, env);
  }
  assert.equal((parse(layout.files.get('overlays/dev/kustomization.yaml')!) as { patches?: unknown }).patches, undefined, 'dev equals the base');
  assert.ok(layout.files.has('overlays/prod/patches/delete-deployment-extra.yaml'));
});

test('json patch diff round-trips through escaping of / and ~', () => {
  const a = { metadata: { labels: { 'a/b': '1', 'c~d': '2' } }, list: [1, 2, 3] };
  const b = { metadata: { labels: { 'a/b': '9', e: '3' } }, list: [1, 2] };
  const ops = diffJson(a, b);
  assert.ok(ops.some((o) => o.path === '/metadata/labels/a~1b'));
  assert.ok(ops.some((o) => o.path === '/metadata/labels/c~0d' && o.op === 'remove'));
  assert.deepEqual(applyPatch(a, ops), b);
});

test('YAML output: YAML 1.1 booleans and numbers-looking strings stay strings; same input, same bytes', () => {
  const obj = { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'x' }, data: { a: 'on', b: 'yes', c: '0800', d: '1e3', e: 'null', z: 'plain' } };
  const text = toYaml(obj);
  assert.deepEqual(parse(text, { version: '1.1' }), obj);
  assert.equal(text.split('\n')[0], 'apiVersion: v1');
  assert.equal(toYaml(JSON.parse(JSON.stringify(obj))), text);
  const shuffled = { metadata: { name: 'x' }, data: { z: 'plain', e: 'null', d: '1e3', c: '0800', b: 'yes', a: 'on' }, kind: 'ConfigMap', apiVersion: 'v1' };
  assert.equal(toYaml(shuffled), text, 'key order does not depend on construction order');
});

test('nested fields no renderer handles are warnings too (resources, probes, sidecars, rollout, restart)', async () => {
  const dir = tempApp({ 'berth.yaml': 'app: x\nservices:\n  web: { run: node w.js, port: 8080, sidecars: [{ name: s, run: node s.js }], probes: { readiness: { http: {} } } }\n' });
  const res = await loadSpec(join(dir, 'berth.yaml'));
  assert.ok(res.ok);
  const spec = structuredClone(res.spec);
  const web = spec.services.web as unknown as Record<string, Record<string, unknown>>;
  web.resources.gpus = 1;
  web.rollout.pauseSeconds = 5;
  web.restart.jitter = true;
  (web.probes.readiness as Record<string, unknown>).grace = 2;
  (spec.services.web.sidecars[0] as unknown as Record<string, unknown>).memoryMiB = 64;
  const r = renderObjects({ spec, dir });
  for (const path of ['services.web.resources.gpus', 'services.web.rollout.pauseSeconds', 'services.web.restart.jitter', 'services.web.probes.readiness.grace', 'services.web.sidecars.0.memoryMiB']) {
    assert.ok(r.warnings.some((w) => w.path === path && /not rendered yet/.test(w.message)), path);
  }
});
