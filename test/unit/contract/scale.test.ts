// `scale:` — defaults (Kubernetes' "100 % or 4 pods" up, 30 s stabilization down) and its errors.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { validateSpecText } from '../../../src/contract/index.js';

const spec = (scale: string, extra = '') => `app: a\nservices:\n  s:\n    run: node s.js\n${extra}    scale:\n${scale}`;

test('defaults: min 1, scale-up 100 % or 4 instances, scale-down window 30 s', () => {
  const r = validateSpecText(spec('      max: 5\n      metrics: [{ rps: 50 }]\n'), '/tmp/berth.yaml');
  assert.ok(r.ok, JSON.stringify(!r.ok && r.errors));
  const s = r.spec.services.s.scale!;
  assert.equal(s.min, 1);
  assert.deepEqual(s.behavior.scaleUp, { stabilizationSeconds: 0, maxStepPercent: 100, maxStepInstances: 4 });
  assert.equal(s.behavior.scaleDown.stabilizationSeconds, 30);
});

test('the issue example validates', () => {
  const r = validateSpecText(
    spec(
      '      min: 1\n      max: 10\n      metrics: [{ rps: 50 }, { concurrency: 10 }, { cpuPercent: 70 }, { p99Ms: 200 }]\n      behavior:\n        scaleUp: { stabilizationSeconds: 0, maxStepPercent: 100, maxStepInstances: 4 }\n        scaleDown: { stabilizationSeconds: 30, maxStepPercent: 50 }\n',
      '    resources: { cpuMillis: 500 }\n',
    ),
    '/tmp/berth.yaml',
  );
  assert.ok(r.ok, JSON.stringify(!r.ok && r.errors));
});

test('errors: max below min, idleSeconds without min 0, cpuPercent without cpuMillis, two keys in one metric', () => {
  const r = validateSpecText(spec('      min: 4\n      max: 2\n      idleSeconds: 30\n      metrics: [{ cpuPercent: 70 }, { rps: 1, concurrency: 2 }]\n'), '/tmp/berth.yaml');
  assert.ok(!r.ok);
  const paths = r.errors.map((e) => e.path);
  for (const p of ['services.s.scale.max', 'services.s.scale.idleSeconds', 'services.s.scale.metrics.0.cpuPercent']) assert.ok(paths.includes(p), `${p} in ${paths.join(', ')}`);
  assert.ok(paths.some((p) => p.startsWith('services.s.scale.metrics.1')), 'the two-key metric');
  for (const e of r.errors) assert.ok(e.line > 0);
});
