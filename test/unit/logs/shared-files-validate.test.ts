// `berth validate` warns when a service with several instances declares logs.files without
// ${BERTH_INSTANCE} in the path (one file for the whole service, records without an instance).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { validateSpecText } from '../../../src/contract/index.js';

const spec = (replicas: number, file: string) => `app: demo\nservices:\n  web:\n    run: node app.js\n    replicas: ${replicas}\n    logs:\n      files:\n        - "${file}"\n`;

function warnings(text: string): string[] {
  const r = validateSpecText(text, 'berth.yaml');
  assert.ok(r.ok, JSON.stringify(r));
  return r.ok ? r.warnings.map((w) => `${w.path}: ${w.message}`) : [];
}

test('validate warns about logs.files shared by replicas (no ${BERTH_INSTANCE}); not for one replica or a per-instance path', () => {
  const w = warnings(spec(3, 'logs/app.log'));
  assert.equal(w.length, 1, w.join('\n'));
  assert.match(w[0], /logs\.files/);
  assert.match(w[0], /shared by the 3 instances of `web`/);
  assert.deepEqual(warnings(spec(1, 'logs/app.log')), []);
  assert.deepEqual(warnings(spec(3, 'logs/app-${BERTH_INSTANCE}.log')), []);
});
