// Randomised checks (seeded, so failures reproduce): overlay patches always reproduce their target,
// and random specs render deterministically to schema-valid objects with bounded label values.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { loadSpec } from '../../../../src/contract/index.js';
import { applyPatch, diffJson, renderObjects, toYamlStream, validateObjects } from '../../../../src/targets/kubernetes/index.js';
import { tempApp } from './helpers.js';
import { rng } from '../../../helpers/seeded-random.js';


function randomJson(r: () => number, depth = 0): unknown {
  const k = r();
  if (depth > 3 || k < 0.3) return [null, true, 1.5, 'x', 'a/b~c', 0][Math.floor(r() * 6)];
  if (k < 0.6) return Array.from({ length: Math.floor(r() * 4) }, () => randomJson(r, depth + 1));
  const keys = ['a', 'b', 'c/d', 'e~f', 'g'];
  return Object.fromEntries(keys.filter(() => r() < 0.5).map((key) => [key, randomJson(r, depth + 1)]));
}

test('diffJson + applyPatch reproduce the target for 2,000 random pairs', () => {
  const r = rng(42);
  for (let i = 0; i < 2000; i++) {
    const a = { root: randomJson(r) };
    const b = { root: randomJson(r) };
    assert.deepEqual(applyPatch(a, diffJson(a, b)), b, JSON.stringify({ a, b }));
    assert.deepEqual(diffJson(a, a), []);
  }
});

test('random specs render deterministically to valid objects', async () => {
  const r = rng(7);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(r() * xs.length)];
  for (let i = 0; i < 25; i++) {
    const n = 1 + Math.floor(r() * 3);
    const names = Array.from({ length: n }, (_, j) => (j === 0 && r() < 0.3 ? 'a'.repeat(40) + j : `svc${j}`));
    const lines = [`app: ${r() < 0.3 ? 'b'.repeat(40) : 'app'}`, 'services:'];
    names.forEach((name, j) => {
      const port = 9000 + j;
      const probe = pick(['http: { path: /h }', 'tcp: {}', 'exec: { command: "true" }', 'grpc: {}']);
      lines.push(
        `  ${name}:`,
        `    run: node s${j}.js --flag v${j}`,
        `    port: ${port}`,
        `    replicas: ${Math.floor(r() * 4)}`,
        `    env: { K${j}: "${pick(['on', 'yes', '1.0', '$(HOME)', 'plain'])}" }`,
        `    probes: { readiness: { ${probe}, periodSeconds: ${pick([0.25, 1, 2.5, 10])} } }`,
        `    stopGracePeriodSeconds: ${pick([1, 2.5, 30])}`,
      );
      if (j > 0) lines.push(`    uses: [${names[0]}]`);
    });
    const yaml = lines.join('\n') + '\n';
    const dir = tempApp({ 'berth.yaml': yaml });
    const res = await loadSpec(join(dir, 'berth.yaml'));
    assert.ok(res.ok, `${yaml}\n${JSON.stringify(!res.ok && res.errors)}`);
    const one = renderObjects({ spec: res.spec, dir });
    const two = renderObjects({ spec: structuredClone(res.spec), dir });
    assert.equal(toYamlStream(one.objects), toYamlStream(two.objects));
    assert.deepEqual(await validateObjects(one.objects), [], yaml);
    for (const o of one.objects) for (const v of Object.values(o.metadata.labels ?? {})) assert.ok(v.length <= 63, `label value ${v}`);
  }
});
