// slotOwners(): the apps `berth ls` and `--app` look at. A claim counts while its owner's `slot` file
// still names that slot; a stale one (owner moved on or gone), a stray file and a missing registry do not.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { claimAppSlot, releaseAppSlot, slotOwners } from '../../../src/lib/slots.js';

test('slotOwners lists the apps holding their claim, skips stale claims and stray files', async () => {
  const root = mkdtempSync(join(tmpdir(), 'berth-owners-'));
  const saved = process.env.BERTH_SLOT_REGISTRY;
  process.env.BERTH_SLOT_REGISTRY = join(root, 'registry');
  try {
    assert.deepEqual(slotOwners(), [], 'no registry yet');
    const a = join(root, 'a', '.berth');
    const b = join(root, 'b', '.berth');
    mkdirSync(a, { recursive: true });
    mkdirSync(b, { recursive: true });
    const slotA = await claimAppSlot(a);
    const slotB = await claimAppSlot(b);
    assert.notEqual(slotA, slotB);
    writeFileSync(join(root, 'registry', 'README'), 'not a claim\n');
    writeFileSync(join(root, 'registry', '200'), join(root, 'gone', '.berth') + '\n'); // owner never held it
    assert.deepEqual(slotOwners().sort(), [a, b].sort());
    releaseAppSlot(b);
    assert.deepEqual(slotOwners(), [a]);
  } finally {
    if (saved === undefined) delete process.env.BERTH_SLOT_REGISTRY;
    else process.env.BERTH_SLOT_REGISTRY = saved;
  }
});
