// An independent oracle for the Kustomize layout: the real `kubectl kustomize` builds the base and
// every overlay Berth writes with `render --out`, and each build must equal what Berth renders
// directly for that environment (`render --env`). Berth's own patches are checked against the tool
// that users run, not against Berth's reading of them. Skipped, saying why, where kubectl is missing.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { loadSpec } from '../../../../src/contract/index.js';
import { BERTH, ROOT } from './helpers.js';
import { specFiles } from './fixtures.js';

const kubectl = spawnSync('kubectl', ['version', '--client'], { encoding: 'utf8' });
const missing = kubectl.status === 0 ? undefined : 'kubectl is not installed: the Kustomize oracle needs `kubectl kustomize`';

type Obj = { kind: string; metadata: { name: string } };

function objects(yamlText: string): Map<string, unknown> {
  const out = new Map<string, unknown>();
  for (const doc of parseAllDocuments(yamlText)) {
    const o = doc.toJS() as Obj | null;
    if (o) out.set(`${o.kind}/${o.metadata.name}`, sortKeys(o));
  }
  return out;
}

function sortKeys(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(sortKeys);
  if (v && typeof v === 'object') return Object.fromEntries(Object.keys(v).sort().map((k) => [k, sortKeys((v as Record<string, unknown>)[k])]));
  return v;
}

function run(cmd: string, args: string[]): string {
  const r = spawnSync(cmd, args, { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024, env: { ...process.env, NO_COLOR: '1' } });
  assert.equal(r.status, 0, `${cmd} ${args.join(' ')}: ${r.stderr}`);
  return r.stdout;
}

test('kubectl kustomize builds every base and overlay of render --out into what render --env renders', { skip: missing }, async () => {
  let checked = 0;
  for (const file of specFiles()) {
    const loaded = await loadSpec(file);
    assert.ok(loaded.ok, file);
    const out = mkdtempSync(join(tmpdir(), 'berth-kustomize-'));
    try {
      run(process.execPath, [BERTH, 'render', '-f', file, '--out', out]);
      for (const env of [undefined, ...Object.keys(loaded.spec.environments)]) {
        const dir = env === undefined ? join(out, 'base') : join(out, 'overlays', env);
        assert.ok(existsSync(join(dir, 'kustomization.yaml')), `${dir}: no kustomization.yaml`);
        const built = objects(run('kubectl', ['kustomize', dir]));
        const direct = objects(run(process.execPath, [BERTH, 'render', '-f', file, ...(env ? ['--env', env] : [])]));
        const label = `${file.slice(ROOT.length + 1)}${env ? ` (env ${env})` : ''}`;
        assert.deepEqual([...built.keys()].sort(), [...direct.keys()].sort(), `${label}: the objects`);
        for (const [key, obj] of built) assert.deepEqual(obj, direct.get(key), `${label}: ${key}`);
        checked++;
      }
    } finally {
      rmSync(out, { recursive: true, force: true });
    }
  }
  assert.ok(checked >= 3, `only ${checked} layouts checked`);
});
