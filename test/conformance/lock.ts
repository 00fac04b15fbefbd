// The ONE conformance suite every LockStore passes, with Dapr's unlock status codes:
// 0 success, 1 lock does not exist, 2 lock belongs to others, 3 internal error.
import { randomUUID } from 'node:crypto';
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { LockRequestError, UnlockStatus, type LockStore } from '../../src/components/index.js';
import { until } from '../helpers/servers.js';

export interface LockHarness {
  available(t: TestContext): Promise<boolean>;
  /** A new instance of the component, as another sidecar would hold it. */
  open(): Promise<LockStore>;
  /** An instance whose backend cannot be reached. */
  openUnreachable(): Promise<LockStore>;
}

export function runLockConformance(name: string, h: LockHarness): void {
  const run = randomUUID().slice(0, 8);
  const res = (what: string): string => `conf-${what}-${run}`;

  async function withStores(t: TestContext, body: (a: LockStore, b: LockStore) => Promise<void>): Promise<void> {
    if (!(await h.available(t))) return;
    const a = await h.open();
    const b = await h.open();
    try {
      await body(a, b);
    } finally {
      await a.close();
      await b.close();
    }
  }

  test(`${name}: one owner at a time; unlock answers 0, 1 and 2 as Dapr does`, async (t) => {
    await withStores(t, async (a, b) => {
      const r = res('basic');
      assert.deepEqual(await a.tryLock({ resourceId: r, lockOwner: 'alice', expiryInSeconds: 30 }), { success: true });
      assert.deepEqual(await b.tryLock({ resourceId: r, lockOwner: 'bob', expiryInSeconds: 30 }), { success: false });
      assert.deepEqual(await a.tryLock({ resourceId: r, lockOwner: 'alice', expiryInSeconds: 30 }), { success: false }, 'not re-entrant');
      assert.deepEqual(await b.unlock({ resourceId: r, lockOwner: 'bob' }), { status: UnlockStatus.LOCK_BELONGS_TO_OTHERS });
      assert.deepEqual(await b.unlock({ resourceId: r, lockOwner: 'alice' }), { status: UnlockStatus.SUCCESS }, 'the owner, from any instance');
      assert.deepEqual(await a.unlock({ resourceId: r, lockOwner: 'alice' }), { status: UnlockStatus.LOCK_DOES_NOT_EXIST });
      assert.deepEqual(await b.tryLock({ resourceId: r, lockOwner: 'bob', expiryInSeconds: 30 }), { success: true });
      assert.equal((await b.unlock({ resourceId: r, lockOwner: 'bob' })).status, 0);
    });
  });

  test(`${name}: a lock expires after expiryInSeconds`, async (t) => {
    await withStores(t, async (a, b) => {
      const r = res('expiry');
      assert.equal((await a.tryLock({ resourceId: r, lockOwner: 'alice', expiryInSeconds: 1 })).success, true);
      assert.equal((await b.tryLock({ resourceId: r, lockOwner: 'bob', expiryInSeconds: 1 })).success, false);
      await until('the lock to expire', async () => (await b.tryLock({ resourceId: r, lockOwner: 'bob', expiryInSeconds: 5 })).success, 5000);
      assert.equal((await a.unlock({ resourceId: r, lockOwner: 'alice' })).status, UnlockStatus.LOCK_BELONGS_TO_OTHERS);
      assert.equal((await b.unlock({ resourceId: r, lockOwner: 'bob' })).status, UnlockStatus.SUCCESS);
    });
  });

  test(`${name}: many contenders from two instances, exactly one wins`, async (t) => {
    await withStores(t, async (a, b) => {
      const r = res('race');
      const results = await Promise.all(
        Array.from({ length: 40 }, (_, i) => (i % 2 ? a : b).tryLock({ resourceId: r, lockOwner: `o${i}`, expiryInSeconds: 30 })),
      );
      assert.equal(results.filter((x) => x.success).length, 1);
      const winner = `o${results.findIndex((x) => x.success)}`;
      assert.equal((await a.unlock({ resourceId: r, lockOwner: winner })).status, UnlockStatus.SUCCESS);
    });
  });

  test(`${name}: malformed requests are refused with ERR_MALFORMED_REQUEST`, async (t) => {
    await withStores(t, async (a) => {
      await assert.rejects(a.tryLock({ resourceId: '', lockOwner: 'x', expiryInSeconds: 5 }), LockRequestError);
      await assert.rejects(a.tryLock({ resourceId: res('bad'), lockOwner: '', expiryInSeconds: 5 }), LockRequestError);
      await assert.rejects(a.tryLock({ resourceId: res('bad'), lockOwner: 'x', expiryInSeconds: 0 }), /expiryInSeconds/);
      await assert.rejects(a.unlock({ resourceId: res('bad'), lockOwner: '' }), (e: LockRequestError) => e.code === 'ERR_MALFORMED_REQUEST');
    });
  });

  test(`${name}: an unreachable backend answers unlock with 3 (internal error) and fails tryLock`, async () => {
    const s = await h.openUnreachable();
    try {
      assert.equal((await s.unlock({ resourceId: res('down'), lockOwner: 'x' })).status, UnlockStatus.INTERNAL_ERROR);
      await assert.rejects(s.tryLock({ resourceId: res('down'), lockOwner: 'x', expiryInSeconds: 5 }));
      assert.equal(await s.ping(), false);
    } finally {
      await s.close();
    }
  });
}
