// `nodes:` and `placement:` — counts and named lists, validation with positions, selector warnings.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { resolveNodes, validateSpecText } from '../../../src/contract/index.js';

const base = (extra: string, svcExtra = '') => `app: a\nservices:\n  s:\n    run: node s.js\n${svcExtra}${extra}`;

test('nodes: a count becomes node-1…node-N; default is one node', () => {
  const r = validateSpecText(base('nodes: 3\n'), '/tmp/berth.yaml');
  assert.ok(r.ok);
  assert.deepEqual(resolveNodes(r.spec.nodes).map((n) => n.name), ['node-1', 'node-2', 'node-3']);
  const d = validateSpecText(base(''), '/tmp/berth.yaml');
  assert.ok(d.ok);
  assert.deepEqual(resolveNodes(d.spec.nodes).map((n) => n.name), ['node-1']);
});

test('nodes: named list with capacity and labels; placement with selector and antiAffinity', () => {
  const r = validateSpecText(
    base(
      'nodes:\n  - { name: big, capacity: { cpuMillis: 4000, memoryMiB: 8192 }, labels: { disk: ssd } }\n  - { name: small }\n',
      '    placement: { nodeSelector: { disk: ssd }, antiAffinity: required }\n',
    ),
    '/tmp/berth.yaml',
  );
  assert.ok(r.ok, JSON.stringify(!r.ok && r.errors));
  const nodes = resolveNodes(r.spec.nodes);
  assert.equal(nodes[0].capacity.memoryMiB, 8192);
  assert.deepEqual(nodes[1].labels, {});
  assert.equal(r.spec.services.s.placement?.antiAffinity, 'required');
});

test('errors: zero nodes, duplicate names, unknown antiAffinity, with positions', () => {
  const zero = validateSpecText(base('nodes: 0\n'), '/tmp/berth.yaml');
  assert.ok(!zero.ok && zero.errors.some((e) => e.path === 'nodes' && e.line === 5));
  const dup = validateSpecText(base('nodes:\n  - { name: n1 }\n  - { name: n1 }\n'), '/tmp/berth.yaml');
  assert.ok(!dup.ok && dup.errors.some((e) => e.path === 'nodes.1.name' && e.line === 7), JSON.stringify(!dup.ok && dup.errors));
  const aa = validateSpecText(base('', '    placement: { antiAffinity: always }\n'), '/tmp/berth.yaml');
  assert.ok(!aa.ok && aa.errors.some((e) => e.path === 'services.s.placement.antiAffinity'));
});

test('a nodeSelector no node satisfies is a warning', () => {
  const r = validateSpecText(base('nodes: 2\n', '    placement: { nodeSelector: { gpu: "yes" } }\n'), '/tmp/berth.yaml');
  assert.ok(r.ok);
  assert.ok(r.warnings.some((w) => w.path === 'services.s.placement.nodeSelector'));
});
