// The one conformance suite every StateStore passes (as Dapr's components-contrib conformance
// tests): what a store claims in features() works, what it does not claim answers as Dapr does.
// Each check runs under its own app ID, so checks and runs never see each other's keys.
import { randomBytes } from 'node:crypto';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  ETagInvalidError,
  ETagMismatchError,
  PrefixedStateStore,
  StateRequestError,
  type QueryRequest,
  type StateStore,
} from '../../src/components/index.js';

export interface StateStoreUnderTest {
  /** e.g. state.redis */
  type: string;
  /** Opens the raw backend (keys as given) in a namespace of its own (table, file, database). */
  open(): Promise<StateStore>;
  /** Removes what the run left (tables, keys); called once at the end. */
  cleanup?(): Promise<void>;
}

const KNOWN_FEATURES = new Set(['ETAG', 'TRANSACTIONAL', 'TTL', 'QUERY_API']);
const json = (v: unknown) => Buffer.from(JSON.stringify(v));
const parse = (b: Buffer | undefined) => (b === undefined ? undefined : (JSON.parse(b.toString('utf8')) as unknown));
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function until<T>(what: string, check: () => Promise<T | undefined>, ms: number): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await check();
    if (v !== undefined) return v;
    if (Date.now() > deadline) assert.fail(`timed out after ${ms} ms waiting for ${what}`);
    await sleep(50);
  }
}

async function rejectsWith(p: Promise<unknown>, kinds: (new (...a: never[]) => Error)[], what: string): Promise<void> {
  await assert.rejects(p, (e: unknown) => kinds.some((k) => e instanceof k), what);
}

export function stateStoreConformance(sut: StateStoreUnderTest): void {
  test(`state store conformance: ${sut.type}`, async (t) => {
    const raw = await sut.open();
    const run = randomBytes(4).toString('hex');
    let n = 0;
    /** The store as one app sees it, under a fresh app ID. */
    const app = () => new PrefixedStateStore(raw, `stateconf-${run}-${++n}`);
    const features = raw.features();
    try {
      await t.test('features(): Dapr names only; query present exactly when QUERY_API is claimed', () => {
        for (const f of features) assert.ok(KNOWN_FEATURES.has(f), `unknown feature ${f}`);
        assert.equal(new Set(features).size, features.length);
        assert.equal(typeof raw.query === 'function', features.includes('QUERY_API'));
        // Every Berth state store is transactional and has ETags and TTLs (the API relies on them).
        for (const f of ['ETAG', 'TRANSACTIONAL', 'TTL']) assert.ok(features.includes(f as never), `${sut.type} must claim ${f}`);
      });

      await t.test('set, get, bulk get, delete: JSON and binary values round-trip; missing keys are absent', async () => {
        const s = app();
        await s.set({ key: 'a', value: json({ x: 1, s: 'é' }) });
        const bin = Buffer.from([0, 255, 1, 254, 10]);
        await s.set({ key: 'bin', value: bin });
        const got = await s.get('a');
        assert.deepEqual(parse(got?.value), { x: 1, s: 'é' });
        assert.ok(got && got.etag.length > 0);
        assert.equal(got.expireTime, undefined);
        assert.deepEqual((await s.get('bin'))?.value, bin);
        assert.equal(await s.get('missing'), undefined);
        const bulk = await s.bulkGet(['a', 'missing', 'bin']);
        assert.deepEqual(bulk.map((b) => [b.key, b.item !== undefined]), [['a', true], ['missing', false], ['bin', true]]);
        assert.deepEqual(bulk[2].item?.value, bin);
        await s.set({ key: 'a', value: json('second') });
        assert.equal(parse((await s.get('a'))?.value), 'second');
        await s.delete({ key: 'a' });
        assert.equal(await s.get('a'), undefined);
        await s.delete({ key: 'a' }); // deleting a missing key without an ETag is not an error
        await s.set({ key: 'str', value: json('plain string') });
        assert.equal((await s.get('str'))?.value.toString(), '"plain string"');
      });

      await t.test('keys are stored as <appId>||<key>; apps do not see each other; "||" in a key is refused', async () => {
        const id = `stateconf-${run}-iso`;
        const a = new PrefixedStateStore(raw, id);
        const b = new PrefixedStateStore(raw, `${id}-other`);
        await a.set({ key: 'k', value: json('from a') });
        assert.equal(await b.get('k'), undefined);
        assert.equal(parse((await raw.get(`${id}||k`))?.value), 'from a');
        await rejectsWith(a.set({ key: 'x||y', value: json(1) }), [StateRequestError], 'a key with || is refused');
        const none = new PrefixedStateStore(raw, undefined);
        assert.equal(parse((await none.get(`${id}||k`))?.value), 'from a');
      });

      await t.test('ETag: the stored ETag allows a write, a stale or missing-key ETag is a mismatch, a malformed one is refused', async () => {
        const s = app();
        await s.set({ key: 'k', value: json(1) });
        const e1 = (await s.get('k'))!.etag;
        await s.set({ key: 'k', value: json(2), etag: e1 });
        const e2 = (await s.get('k'))!.etag;
        assert.notEqual(e2, e1, 'a write changes the ETag');
        await rejectsWith(s.set({ key: 'k', value: json(3), etag: e1 }), [ETagMismatchError], 'stale ETag on set');
        await rejectsWith(s.set({ key: 'k', value: json(3), etag: e1, options: { concurrency: 'last-write' } }), [ETagMismatchError], 'stale ETag with last-write');
        assert.equal(parse((await s.get('k'))?.value), 2, 'nothing written on a mismatch');
        await rejectsWith(s.set({ key: 'absent', value: json(1), etag: e2 }), [ETagMismatchError], 'ETag on a missing key');
        assert.equal(await s.get('absent'), undefined);
        await rejectsWith(s.set({ key: 'k', value: json(4), etag: 'not an etag!' }), [ETagInvalidError, ETagMismatchError], 'malformed ETag');
        await rejectsWith(s.delete({ key: 'k', etag: e1 }), [ETagMismatchError], 'stale ETag on delete');
        assert.equal(parse((await s.get('k'))?.value), 2);
        await rejectsWith(s.delete({ key: 'absent', etag: e2 }), [ETagMismatchError], 'delete of a missing key with an ETag');
        await s.delete({ key: 'k', etag: e2 });
        assert.equal(await s.get('k'), undefined);
      });

      await t.test('concurrency: first-write succeeds only on an absent key; last-write always wins; of racing first-writes exactly one wins', async () => {
        const s = app();
        await s.set({ key: 'fw', value: json('first'), options: { concurrency: 'first-write' } });
        await rejectsWith(s.set({ key: 'fw', value: json('second'), options: { concurrency: 'first-write' } }), [ETagMismatchError], 'first-write on an existing key');
        assert.equal(parse((await s.get('fw'))?.value), 'first');
        const e = (await s.get('fw'))!.etag;
        await s.set({ key: 'fw', value: json('with etag'), etag: e, options: { concurrency: 'first-write' } });
        await s.set({ key: 'fw', value: json('last'), options: { concurrency: 'last-write' } });
        assert.equal(parse((await s.get('fw'))?.value), 'last');
        const results = await Promise.allSettled(Array.from({ length: 8 }, (_, i) => s.set({ key: 'race', value: json(i), options: { concurrency: 'first-write' } })));
        assert.equal(results.filter((r) => r.status === 'fulfilled').length, 1, 'exactly one first-write wins');
        for (const r of results) if (r.status === 'rejected') assert.ok(r.reason instanceof ETagMismatchError, String(r.reason));
        // Racing writes with the same ETag: exactly one wins.
        const et = (await s.get('race'))!.etag;
        const racing = await Promise.allSettled(Array.from({ length: 6 }, (_, i) => s.set({ key: 'race', value: json(`e${i}`), etag: et })));
        assert.equal(racing.filter((r) => r.status === 'fulfilled').length, 1, 'exactly one write with the same ETag wins');
      });

      await t.test('TTL: an item expires; -1 and a later write without TTL keep it; first-write may take an expired key; bad TTLs are refused', async () => {
        const s = app();
        const before = Date.now();
        await s.set({ key: 'short', value: json('x'), ttlInSeconds: 1 });
        const got = await s.get('short');
        assert.ok(got?.expireTime, 'expireTime is reported');
        const ms = got.expireTime.getTime() - before;
        assert.ok(ms > 0 && ms <= 2500, `expires about 1 s from now (${ms} ms)`);
        await s.set({ key: 'forever', value: json('y'), ttlInSeconds: -1 });
        assert.equal((await s.get('forever'))?.expireTime, undefined);
        await s.set({ key: 'cleared', value: json('z'), ttlInSeconds: 1 });
        await s.set({ key: 'cleared', value: json('z2') });
        await until('the 1 s item to expire', async () => ((await s.get('short')) === undefined ? true : undefined), 6000);
        assert.equal((await s.bulkGet(['short']))[0].item, undefined);
        assert.equal(parse((await s.get('cleared'))?.value), 'z2', 'a write without TTL clears the earlier TTL');
        assert.equal(parse((await s.get('forever'))?.value), 'y');
        await s.set({ key: 'short', value: json('again'), options: { concurrency: 'first-write' } });
        assert.equal(parse((await s.get('short'))?.value), 'again');
        await rejectsWith(s.set({ key: 'bad', value: json(1), ttlInSeconds: -2 }), [StateRequestError], 'ttlInSeconds -2');
        await rejectsWith(s.set({ key: 'bad', value: json(1), ttlInSeconds: 1.5 }), [StateRequestError], 'ttlInSeconds 1.5');
      });

      await t.test('transactions: upserts and deletes apply together; one ETag mismatch rolls back all', async () => {
        const s = app();
        await s.set({ key: 'd', value: json('to delete') });
        await s.set({ key: 'u', value: json(0) });
        const eu = (await s.get('u'))!.etag;
        await s.transaction([
          { operation: 'upsert', request: { key: 'n1', value: json(1) } },
          { operation: 'upsert', request: { key: 'u', value: json(1), etag: eu } },
          { operation: 'delete', request: { key: 'd' } },
          { operation: 'upsert', request: { key: 'ttl', value: json('t'), ttlInSeconds: 100 } },
        ]);
        assert.equal(parse((await s.get('n1'))?.value), 1);
        assert.equal(parse((await s.get('u'))?.value), 1);
        assert.equal(await s.get('d'), undefined);
        assert.ok((await s.get('ttl'))?.expireTime);
        await rejectsWith(
          s.transaction([
            { operation: 'upsert', request: { key: 'n2', value: json(2) } },
            { operation: 'delete', request: { key: 'n1' } },
            { operation: 'upsert', request: { key: 'u', value: json(99), etag: eu } }, // stale
          ]),
          [ETagMismatchError],
          'stale ETag in a transaction',
        );
        assert.equal(await s.get('n2'), undefined, 'the upsert before the mismatch was rolled back');
        assert.equal(parse((await s.get('n1'))?.value), 1, 'the delete before the mismatch was rolled back');
        assert.equal(parse((await s.get('u'))?.value), 1);
        await rejectsWith(
          s.transaction([
            { operation: 'upsert', request: { key: 'n3', value: json(3) } },
            { operation: 'upsert', request: { key: 'n1', value: json(3), options: { concurrency: 'first-write' } } },
          ]),
          [ETagMismatchError],
          'first-write on an existing key in a transaction',
        );
        assert.equal(await s.get('n3'), undefined);
        // Operations apply in order: upsert then delete of one key leaves it absent.
        await s.transaction([
          { operation: 'upsert', request: { key: 'seq', value: json(1) } },
          { operation: 'delete', request: { key: 'seq' } },
        ]);
        assert.equal(await s.get('seq'), undefined);
        await s.transaction([]);
      });

      if (!features.includes('QUERY_API')) {
        await t.test('query: not claimed, so the store has no query method (the API answers as Dapr: not supported)', () => {
          assert.equal(raw.query, undefined);
        });
        return;
      }

      await t.test('query: EQ, IN, AND, OR, sort and paging with a token; only this app\'s JSON values', async () => {
        const s = app();
        const other = app();
        const people = [
          { id: 1, org: 'dev', city: 'Seattle', active: true },
          { id: 2, org: 'dev', city: 'Portland', active: false },
          { id: 3, org: 'ops', city: 'Seattle', active: true },
          { id: 4, org: 'finance', city: 'Austin', active: true },
          { id: 5, org: 'ops', city: 'Portland', active: false },
          { id: 6, org: 'dev', city: 'Austin', active: true },
          { id: 7, org: 'ops', city: 'Seattle', active: null },
        ];
        for (const p of people) await s.set({ key: `p${p.id}`, value: json({ person: { id: p.id, org: p.org }, city: p.city, active: p.active }) });
        await s.set({ key: 'binary', value: Buffer.from([0xff, 0x00, 0xfe]) });
        await s.set({ key: 'str-id', value: json({ person: { id: '1', org: 'dev' }, city: 'Seattle' }) });
        await other.set({ key: 'p1', value: json({ person: { id: 1, org: 'dev' }, city: 'Seattle' }) });
        const q = async (req: QueryRequest) => {
          const r = await s.query!(req);
          return r.results.map((x) => x.key);
        };
        const sorted = (keys: string[]) => [...keys].sort();
        assert.deepEqual(sorted(await q({ filter: { EQ: { 'person.org': 'dev' } } })), ['p1', 'p2', 'p6', 'str-id']);
        assert.deepEqual(sorted(await q({ filter: { EQ: { 'person.id': 1 } } })), ['p1'], 'EQ is typed: 1 is not "1"');
        assert.deepEqual(sorted(await q({ filter: { EQ: { active: true } } })), ['p1', 'p3', 'p4', 'p6']);
        assert.deepEqual(sorted(await q({ filter: { EQ: { active: null } } })), ['p7']);
        assert.deepEqual(sorted(await q({ filter: { IN: { city: ['Austin', 'Portland'] } } })), ['p2', 'p4', 'p5', 'p6']);
        assert.deepEqual(sorted(await q({ filter: { AND: [{ EQ: { 'person.org': 'ops' } }, { EQ: { city: 'Seattle' } }] } })), ['p3', 'p7']);
        assert.deepEqual(
          sorted(await q({ filter: { OR: [{ EQ: { 'person.org': 'finance' } }, { AND: [{ EQ: { city: 'Portland' } }, { IN: { 'person.org': ['ops'] } }] }] } })),
          ['p4', 'p5'],
        );
        assert.deepEqual(await q({ filter: { EQ: { 'person.org': 'dev' } }, sort: [{ key: 'person.id', order: 'DESC' }] }).then((k) => k.filter((x) => x !== 'str-id')), ['p6', 'p2', 'p1']);
        assert.deepEqual(await q({ filter: { IN: { 'person.org': ['ops', 'finance'] } }, sort: [{ key: 'city' }, { key: 'person.id', order: 'DESC' }] }), ['p4', 'p5', 'p7', 'p3']);
        const all = await q({});
        assert.deepEqual(sorted(all), ['p1', 'p2', 'p3', 'p4', 'p5', 'p6', 'p7', 'str-id'], 'binary values and other apps are not returned');
        // Paging: every item exactly once, in sort order, the last page without a token.
        const seen: string[] = [];
        let token: string | undefined;
        let pages = 0;
        do {
          const r = await s.query!({ filter: { EQ: { 'person.org': 'dev' } }, sort: [{ key: 'city' }], page: { limit: 2, ...(token ? { token } : {}) } });
          seen.push(...r.results.map((x) => x.key));
          token = r.token;
          pages++;
          assert.ok(pages < 10);
        } while (token !== undefined);
        assert.deepEqual(sorted(seen), ['p1', 'p2', 'p6', 'str-id']);
        assert.equal(new Set(seen).size, seen.length);
        const page = await s.query!({ filter: { EQ: { 'person.id': 3 } } });
        assert.equal(page.results.length, 1);
        assert.deepEqual(parse(page.results[0].data), { person: { id: 3, org: 'ops' }, city: 'Seattle', active: true });
        assert.equal(page.results[0].etag, (await s.get('p3'))?.etag);
        assert.equal(page.token, undefined);
        // Malformed queries are refused, not run.
        for (const bad of [{ filter: { LIKE: { city: 'x' } } }, { filter: { EQ: { city: 'a' }, IN: { city: ['b'] } } }, { filter: { IN: { city: [] } } }, { filter: { AND: [{ EQ: { city: 'a' } }] } }, { sort: [{ key: 'city', order: 'UP' }] }, { page: { limit: -1 } }, { page: { token: 'abc' } }, { filter: { EQ: { 'a..b': 1 } } }]) {
          await rejectsWith(s.query!(bad as unknown as QueryRequest), [StateRequestError], JSON.stringify(bad));
        }
        // An expired item is not returned.
        await s.set({ key: 'p8', value: json({ person: { id: 8, org: 'temp' } }), ttlInSeconds: 1 });
        assert.deepEqual(await q({ filter: { EQ: { 'person.org': 'temp' } } }), ['p8']);
        await until('p8 to expire from queries', async () => ((await q({ filter: { EQ: { 'person.org': 'temp' } } })).length === 0 ? true : undefined), 6000);
      });
    } finally {
      await raw.close();
      await sut.cleanup?.();
    }
  });
}
