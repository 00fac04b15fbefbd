// Helpers for the Kubernetes target's tests: temp apps, loading + rendering, snapshot comparison.
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import assert from 'node:assert/strict';
import { loadSpec } from '../../../../src/contract/index.js';
import { renderKubernetes, type MeshKind, type RenderResult } from '../../../../src/targets/kubernetes/index.js';

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../../../../..');
export const FIXTURES = join(ROOT, 'test/fixtures/kubernetes');
export const BERTH = join(ROOT, 'bin/berth.js');

/** A temp directory holding the given files (path → content). */
export function tempApp(files: Record<string, string>): string {
  const dir = mkdtempSync(join(tmpdir(), 'berth-k8s-'));
  for (const [p, content] of Object.entries(files)) {
    mkdirSync(dirname(join(dir, p)), { recursive: true });
    writeFileSync(join(dir, p), content);
  }
  return dir;
}

export interface RenderTestOptions {
  env?: string;
  mesh?: MeshKind;
  gatewayClass?: string;
  /** `--set key=value` render options. */
  set?: string[];
}

export async function renderFile(file: string, opts: RenderTestOptions = {}): Promise<RenderResult> {
  const res = await loadSpec(file, { env: opts.env });
  if (!res.ok) throw new Error(`invalid spec: ${JSON.stringify(res.errors)}`);
  return renderKubernetes({ spec: res.spec, dir: res.dir, env: opts.env, mesh: opts.mesh, gatewayClass: opts.gatewayClass, set: opts.set });
}

export async function renderYaml(yaml: string, opts: RenderTestOptions & { files?: Record<string, string> } = {}): Promise<RenderResult> {
  const dir = tempApp({ 'berth.yaml': yaml, ...(opts.files ?? {}) });
  return renderFile(join(dir, 'berth.yaml'), opts);
}

/** Compares `actual` with the committed snapshot byte for byte; BERTH_UPDATE_SNAPSHOTS=1 rewrites it. */
export function matchSnapshot(relPath: string, actual: string): void {
  const file = join(FIXTURES, relPath);
  if (process.env.BERTH_UPDATE_SNAPSHOTS === '1') {
    mkdirSync(dirname(file), { recursive: true });
    writeFileSync(file, actual);
    return;
  }
  assert.ok(existsSync(file), `snapshot ${relPath} is missing: run the tests with BERTH_UPDATE_SNAPSHOTS=1 and commit it`);
  assert.equal(actual, readFileSync(file, 'utf8'), `${relPath} differs from the snapshot (BERTH_UPDATE_SNAPSHOTS=1 rewrites it after a deliberate change)`);
}

export function find(result: RenderResult, kind: string, name: string) {
  const o = result.objects.find((x) => x.kind === kind && x.metadata.name === name);
  assert.ok(o, `${kind}/${name} not rendered; got ${result.objects.map((x) => `${x.kind}/${x.metadata.name}`).join(', ')}`);
  return o as unknown as Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any -- tests dig into manifests
}
