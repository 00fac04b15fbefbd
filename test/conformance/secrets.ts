// The ONE conformance suite every SecretStore passes: get answers { key: value } (or the secret's
// keys when multi-valued), a missing secret is ERR_SECRET_GET, bulk answers every secret keyed by
// name, and what one get returns cannot change the store.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SecretNotFoundError, type SecretStore } from '../../src/components/index.js';

export interface SecretsHarness {
  /** A store holding exactly the given name/value secrets (plus whatever else it sees). */
  open(secrets: Record<string, string>): Promise<SecretStore>;
}

export function runSecretsConformance(name: string, h: SecretsHarness): void {
  const secrets = { 'db-password': 's3cr3t', API_KEY: 'k-123', unicode: 'пароль "quoted"\nline2' };

  test(`${name}: get answers the value under its key`, async () => {
    const store = await h.open(secrets);
    try {
      for (const [k, v] of Object.entries(secrets)) assert.deepEqual(await store.get(k), { [k]: v });
    } finally {
      await store.close();
    }
  });

  test(`${name}: a missing secret is ERR_SECRET_GET naming the key and the store`, async () => {
    const store = await h.open(secrets);
    try {
      await assert.rejects(store.get('no-such-secret'), (e: SecretNotFoundError) => {
        assert.ok(e instanceof SecretNotFoundError);
        assert.equal(e.code, 'ERR_SECRET_GET');
        assert.match(e.message, /no-such-secret/);
        assert.match(e.message, new RegExp(store.name));
        return true;
      });
      await assert.rejects(store.get(''), SecretNotFoundError);
    } finally {
      await store.close();
    }
  });

  test(`${name}: bulk answers every secret keyed by name`, async () => {
    const store = await h.open(secrets);
    try {
      const all = await store.bulk();
      for (const [k, v] of Object.entries(secrets)) assert.deepEqual(all[k], { [k]: v });
      all['db-password']['db-password'] = 'changed';
      assert.deepEqual(await store.get('db-password'), { 'db-password': 's3cr3t' }, 'callers get copies');
      assert.ok(Array.isArray(store.features()));
    } finally {
      await store.close();
    }
  });
}
