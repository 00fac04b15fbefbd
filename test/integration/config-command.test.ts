// `berth config` (issue 19 point 5): the effective spec — environment overlay applied, defaults filled
// in, secret values masked — as YAML (default) or JSON; an invalid spec is exit 2 with file:line:col.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parse } from 'yaml';
import { berth, tempApp } from './harness/berth.js';

const spec = `app: cfg
secrets:
  api-key: { value: "s3cr3t-value" }
services:
  web:
    run: node web.mjs
    port: 28080
    secrets: [{ name: api-key, env: API_KEY }]
    env: { GREETING: "\${GREETING:-hello}", FROM_DOTENV: "\${FROM_DOTENV}" }
environments:
  prod:
    services:
      web: { replicas: 3 }
`;

test('berth config prints the effective spec: overlay applied, defaults in, secrets masked', async () => {
  const dir = tempApp({ 'web.mjs': '', 'berth.yaml': spec, '.env': 'FROM_DOTENV=dotenv-value\n' });
  const base = await berth(dir, ['config']);
  assert.equal(base.code, 0, base.stderr);
  assert.match(base.stdout, /^# effective spec of .*berth\.yaml: variables interpolated, overlay applied/);
  const doc = parse(base.stdout) as { services: Record<string, { replicas: number; stopGracePeriodSeconds: number }>; environments?: unknown; secrets: Record<string, { value: string }> };
  assert.equal(doc.services.web.replicas, 1);
  assert.deepEqual((doc.services.web as unknown as { env: Record<string, string> }).env, { GREETING: 'hello', FROM_DOTENV: 'dotenv-value' }, 'variables interpolated, from .env too');
  assert.equal(doc.services.web.stopGracePeriodSeconds, 10, 'defaults are filled in');
  assert.equal(doc.environments, undefined, 'the overlay is applied, not listed');
  assert.equal(doc.secrets['api-key'].value, '********');
  assert.doesNotMatch(base.stdout, /s3cr3t-value/);

  const prod = await berth(dir, ['config', '--env', 'prod', '--json']);
  assert.equal(prod.code, 0, prod.stderr);
  const json = JSON.parse(prod.stdout) as { services: Record<string, { replicas: number }> };
  assert.equal(json.services.web.replicas, 3);
  assert.doesNotMatch(prod.stdout, /s3cr3t-value/);

  assert.equal((await berth(dir, ['config', '--json', '--yaml'])).code, 2);
});

test('berth config on an invalid spec: exit 2 with file:line:col', async () => {
  const dir = tempApp({ 'berth.yaml': 'app: cfg\nservices:\n  web:\n    run: x\n    replicas: many\n' });
  const r = await berth(dir, ['config']);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /berth\.yaml:5:\d+/);
  assert.equal(r.stdout, '');
});
