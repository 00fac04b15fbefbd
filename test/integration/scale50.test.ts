// 50 instances over 5 simulated nodes on this 2-core machine converge, and converge again after a
// node is killed. Measured, not tightly bounded (the figures go to the test's diagnostics and to
// docs/figures.md via bench/nodes).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { runNodesBench } from '../../bench/nodes.js';

test('50 instances over 5 nodes converge; after a node kill they converge again elsewhere', async (t) => {
  const r = await runNodesBench(50, 5, 300_000);
  t.diagnostic(JSON.stringify(r));
  assert.equal(r.instances, 50);
  assert.ok(r.upToAllReadyMs < 300_000);
  assert.ok(r.nodeKillToAllReadyMs < r.kubernetesNodeEvictionMs, 'faster than Kubernetes node eviction');
});
