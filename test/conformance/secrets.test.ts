// secretstores.local.env and secretstores.local.file through the secrets conformance suite, then
// each one's own options as Dapr documents them: prefix (env); nestedSeparator, multiValued (file).
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ComponentConfigError, SecretNotFoundError, createSecretStore, type ComponentSpec } from '../../src/components/index.js';
import { runSecretsConformance } from './secrets.js';

const spec = (type: string, metadata: Record<string, string> = {}): ComponentSpec => ({ name: 'secretstore', type, version: 'v1', metadata, scopes: [] });
const dir = mkdtempSync(join(tmpdir(), 'berth-secrets-'));
let n = 0;
const jsonFile = (doc: unknown): string => {
  const f = join(dir, `secrets-${n++}.json`);
  writeFileSync(f, JSON.stringify(doc));
  return f;
};

runSecretsConformance('secretstores.local.env', {
  open: async (secrets) => createSecretStore(spec('secretstores.local.env'), { env: { ...secrets, PATH: '/bin' } }),
});

runSecretsConformance('secretstores.local.file', {
  open: async (secrets) => createSecretStore(spec('secretstores.local.file', { secretsFile: jsonFile(secrets) })),
});

test('local.env: prefix limits the store and is stripped; DAPR_* and APP_API_TOKEN are never served', async () => {
  const env = { MYAPP_DB: 'x', OTHER: 'y', DAPR_API_TOKEN: 't', APP_API_TOKEN: 'a', MYAPP_: 'empty-name' };
  const scoped = createSecretStore(spec('secretstores.local.env', { prefix: 'MYAPP_' }), { env });
  assert.deepEqual(await scoped.get('DB'), { DB: 'x' });
  await assert.rejects(scoped.get('OTHER'), SecretNotFoundError);
  assert.deepEqual(await scoped.bulk(), { DB: { DB: 'x' } });
  const all = createSecretStore(spec('secretstores.local.env'), { env });
  await assert.rejects(all.get('DAPR_API_TOKEN'), SecretNotFoundError);
  await assert.rejects(all.get('APP_API_TOKEN'), SecretNotFoundError);
  assert.deepEqual(Object.keys(await all.bulk()).sort(), ['MYAPP_', 'MYAPP_DB', 'OTHER']);
});

const nested = { redisPassword: 'pw', connectionStrings: { sql: 'sql-cs', mysql: { primary: 'm1' } }, port: 5432, on: true };

test('local.file name/value mode flattens with nestedSeparator', async () => {
  const s = createSecretStore(spec('secretstores.local.file', { secretsFile: jsonFile(nested) }));
  assert.deepEqual(await s.get('connectionStrings:sql'), { 'connectionStrings:sql': 'sql-cs' });
  assert.deepEqual(await s.get('connectionStrings:mysql:primary'), { 'connectionStrings:mysql:primary': 'm1' });
  assert.deepEqual(await s.get('port'), { port: '5432' });
  assert.deepEqual(await s.get('on'), { on: 'true' });
  await assert.rejects(s.get('connectionStrings'), SecretNotFoundError);
  assert.deepEqual(s.features(), []);
  const dotted = createSecretStore(spec('secretstores.local.file', { secretsFile: jsonFile(nested), nestedSeparator: '.' }));
  assert.deepEqual(await dotted.get('connectionStrings.sql'), { 'connectionStrings.sql': 'sql-cs' });
});

test('local.file multiValued keeps one level: a secret with several keys', async () => {
  const s = createSecretStore(spec('secretstores.local.file', { secretsFile: jsonFile(nested), multiValued: 'true' }));
  assert.deepEqual(await s.get('connectionStrings'), { sql: 'sql-cs', 'mysql:primary': 'm1' });
  assert.deepEqual(await s.get('redisPassword'), { redisPassword: 'pw' });
  assert.deepEqual((await s.bulk()).connectionStrings, { sql: 'sql-cs', 'mysql:primary': 'm1' });
  assert.deepEqual(s.features(), ['MULTIPLE_KEY_VALUES_PER_SECRET']);
});

test('local.file picks up a changed file; a missing or malformed file is a configuration error', async () => {
  const f = jsonFile({ a: '1' });
  const s = createSecretStore(spec('secretstores.local.file', { secretsFile: f }));
  assert.deepEqual(await s.get('a'), { a: '1' });
  writeFileSync(f, JSON.stringify({ a: '22', b: '3' }));
  assert.deepEqual(await s.get('a'), { a: '22' });
  assert.throws(() => createSecretStore(spec('secretstores.local.file', { secretsFile: join(dir, 'nope.json') })), ComponentConfigError);
  const bad = join(dir, 'bad.json');
  writeFileSync(bad, '{"a": ');
  assert.throws(() => createSecretStore(spec('secretstores.local.file', { secretsFile: bad })), /not valid JSON/);
  assert.throws(() => createSecretStore(spec('secretstores.local.file', {})), /secretsFile" is required/);
  // relative paths resolve against the spec's folder
  writeFileSync(join(dir, 'rel.json'), '{"r":"ok"}');
  assert.deepEqual(await createSecretStore(spec('secretstores.local.file', { secretsFile: 'rel.json' }), { baseDir: dir }).get('r'), { r: 'ok' });
});
