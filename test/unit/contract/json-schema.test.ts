// The published JSON Schema: generated from zod, committed as schema/berth.schema.json.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { jsonSchema } from '../../../src/contract/index.js';
import { ROOT } from './helpers.js';

test('schema/berth.schema.json equals jsonSchema() (run node dist/src/contract/write-schema.js after schema changes)', () => {
  const onDisk = JSON.parse(readFileSync(join(ROOT, 'schema/berth.schema.json'), 'utf8'));
  assert.deepEqual(onDisk, JSON.parse(JSON.stringify(jsonSchema())));
});

test('the schema is draft 2020-12 with id, title and description', () => {
  const s = jsonSchema() as Record<string, unknown>;
  assert.equal(s.$schema, 'https://json-schema.org/draft/2020-12/schema');
  assert.equal(typeof s.$id, 'string');
  assert.equal(typeof s.title, 'string');
  assert.equal(typeof s.description, 'string');
  assert.deepEqual(s.required, ['app', 'services']);
  assert.equal(s.additionalProperties, false);
});

test('service fields, defaults and descriptions are present', () => {
  const s = jsonSchema() as { properties: { services: { additionalProperties: { properties: Record<string, { default?: unknown; description?: string }>; required: string[] } } } };
  const svc = s.properties.services.additionalProperties;
  for (const k of ['run', 'cwd', 'env', 'envFile', 'port', 'replicas', 'uses', 'dependsOn', 'sidecars', 'probes', 'restart', 'resources', 'stopGracePeriodSeconds', 'rollout']) {
    assert.ok(k in svc.properties, k);
    assert.ok(svc.properties[k].description, `${k} has a description`);
  }
  assert.deepEqual(svc.required, ['run']);
  assert.equal(svc.properties.replicas.default, 1);
});

test('environment overlays are described as partial specs', () => {
  const s = jsonSchema() as { properties: { environments: { additionalProperties: { required?: unknown; properties: Record<string, unknown> } } } };
  const overlay = s.properties.environments.additionalProperties;
  assert.equal(overlay.required, undefined);
  assert.ok('services' in overlay.properties);
  const hasRequiredKey = (n: unknown): boolean =>
    Array.isArray(n) ? n.some(hasRequiredKey) : typeof n === 'object' && n !== null && Object.entries(n).some(([k, v]) => k === 'required' || hasRequiredKey(v));
  assert.ok(!hasRequiredKey(overlay), 'no required keys anywhere in an overlay');
});
