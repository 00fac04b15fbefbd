// State store pieces that need no server: metadata parsing as Dapr reads it, key prefixes,
// query validation, and the SQLite store's file (the embedded default lives under .berth/).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  ComponentConfigError,
  StateRequestError,
  checkQuery,
  keyPrefixFor,
  openStateBackend,
  openStateStore,
  parseTtl,
} from '../../../src/components/index.js';
import { postgresConfig } from '../../../src/components/state/postgresql.js';
import { parseDuration } from '../../../src/components/state/common.js';
import { sqliteFile } from '../../../src/components/state/sqlite.js';
import { defaultComponents } from '../../../src/contract/index.js';

test('keyPrefix: appid (default), name, none, or a custom prefix; "||" refused', () => {
  assert.equal(keyPrefixFor(undefined, 'web', 'store'), 'web');
  assert.equal(keyPrefixFor('appid', 'web', 'store'), 'web');
  assert.equal(keyPrefixFor('name', 'web', 'store'), 'store');
  assert.equal(keyPrefixFor('none', 'web', 'store'), undefined);
  assert.equal(keyPrefixFor('shared', 'web', 'store'), 'shared');
  assert.throws(() => keyPrefixFor('a||b', 'web', 'store'), StateRequestError);
});

test('openStateStore applies the key prefix strategy of the component', async () => {
  const base = { type: 'state.in-memory', version: 'v1', scopes: [] };
  const named = await openStateStore({ ...base, name: 'cache', metadata: { keyPrefix: 'name' } }, { appId: 'web', baseDir: tmpdir() });
  await named.set({ key: 'k', value: Buffer.from('1') });
  assert.equal((await named.get('k'))?.value.toString(), '1');
  const none = await openStateStore({ ...base, name: 'raw', metadata: { keyPrefix: 'none' } }, { appId: 'web', baseDir: tmpdir() });
  await none.set({ key: 'a||b', value: Buffer.from('2') }); // no prefix, so "||" is just part of the key
  assert.equal((await none.get('a||b'))?.value.toString(), '2');
});

test('metadata: Go durations, TTL strings, PostgreSQL key=value connection strings', () => {
  assert.equal(parseDuration('t', '2s', 0), 2000);
  assert.equal(parseDuration('t', '1h30m', 0), 5_400_000);
  assert.equal(parseDuration('t', '500ms', 0), 500);
  assert.equal(parseDuration('t', '30', 0), 30_000);
  assert.equal(parseDuration('t', undefined, 7), 7);
  assert.throws(() => parseDuration('busyTimeout', 'soon', 0), /busyTimeout/);
  assert.equal(parseTtl('60'), 60);
  assert.equal(parseTtl('-1'), -1);
  assert.equal(parseTtl(undefined), undefined);
  assert.throws(() => parseTtl('-2'), StateRequestError);
  assert.throws(() => parseTtl('abc'), StateRequestError);
  assert.deepEqual(postgresConfig("host=db.local port=6432 user=me password='p w\\'d' dbname=app connect_timeout=10 sslmode=disable"), {
    host: 'db.local', port: 6432, user: 'me', password: "p w'd", database: 'app', connectionTimeoutMillis: 10_000,
  });
  assert.deepEqual(postgresConfig('postgres://u@h:1/d'), { connectionString: 'postgres://u@h:1/d' });
  assert.throws(() => postgresConfig('host=a nonsense'), ComponentConfigError);
});

test('query validation refuses what Dapr refuses, and accepts an empty filter', () => {
  assert.deepEqual(checkQuery({ filter: {} }), {});
  assert.deepEqual(checkQuery({ filter: { EQ: { a: 1 } }, sort: [{ key: 'a', order: 'DESC' }], page: { limit: 2, token: '4' } }).page, { limit: 2, token: '4' });
  for (const bad of [null, [], { filter: { EQ: { a: {} } } }, { filter: { OR: 'x' } }, { extra: 1 }, { page: { limit: 1.5 } }]) {
    assert.throws(() => checkQuery(bad), StateRequestError, JSON.stringify(bad));
  }
});

test('state.sqlite: relative connectionString resolves against the spec directory; the default store is a file under .berth/', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'berth-sqlite-'));
  assert.equal(sqliteFile('data.db', dir), join(dir, 'data.db'));
  assert.equal(sqliteFile('file:data.db?cache=shared', dir), join(dir, 'data.db'));
  assert.equal(sqliteFile(':memory:', dir), ':memory:');
  const def = defaultComponents(join(dir, '.berth')).state;
  const s = await openStateStore({ ...def }, { appId: 'web', baseDir: dir });
  await s.set({ key: 'k', value: Buffer.from('"v"') });
  await s.close();
  assert.ok(existsSync(join(dir, '.berth/components/statestore.db')));
  const again = await openStateStore({ ...def }, { appId: 'web', baseDir: dir });
  assert.equal((await again.get('k'))?.value.toString(), '"v"', 'the value survived a restart');
  await again.close();
});

test('bad components fail to open with a message naming the metadata', async () => {
  const base = { name: 's', version: 'v1' };
  await assert.rejects(openStateBackend({ ...base, type: 'state.sqlite', metadata: {} }, { baseDir: tmpdir() }), /needs metadata connectionString/);
  await assert.rejects(openStateBackend({ ...base, type: 'state.sqlite', metadata: { connectionString: ':memory:', tableName: 'x; drop' } }, { baseDir: tmpdir() }), /tableName/);
  await assert.rejects(openStateBackend({ ...base, type: 'state.redis', metadata: {} }, { baseDir: tmpdir() }), /component "s": metadata "redisHost" is required/);
  await assert.rejects(openStateBackend({ ...base, type: 'state.mongodb', metadata: {} }, { baseDir: tmpdir() }), /not a state store type/);
  await assert.rejects(openStateBackend({ ...base, version: 'v2', type: 'state.in-memory', metadata: {} }, { baseDir: tmpdir() }), /version v2/);
  await assert.rejects(openStateBackend({ ...base, type: 'state.postgresql', metadata: { connectionString: 'postgres://x@127.0.0.1:5432/x', maxConns: 'many' } }, { baseDir: tmpdir() }), /maxConns/);
});
