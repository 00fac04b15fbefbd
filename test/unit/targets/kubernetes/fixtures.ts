// Every spec the Kubernetes target's policy tests render: the examples and the valid spec fixtures,
// in every environment and with both meshes.
import { readdirSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { loadSpec } from '../../../../src/contract/index.js';
import type { MeshKind, RenderResult } from '../../../../src/targets/kubernetes/index.js';
import { ROOT, renderFile } from './helpers.js';

export function specFiles(): string[] {
  const examples = readdirSync(join(ROOT, 'examples')).map((d) => join(ROOT, 'examples', d, 'berth.yaml')).filter((f) => existsSync(f));
  const validDir = join(ROOT, 'test/fixtures/specs/valid');
  const valid = readdirSync(validDir).filter((f) => f.endsWith('.yaml')).map((f) => join(validDir, f));
  return [...examples, ...valid];
}

/** Renders every spec file in every environment (and the base) with both meshes. */
export async function renderAll(): Promise<{ label: string; result: RenderResult }[]> {
  const out: { label: string; result: RenderResult }[] = [];
  for (const file of specFiles()) {
    const loaded = await loadSpec(file);
    if (!loaded.ok) throw new Error(`${file}: invalid spec: ${JSON.stringify(loaded.errors)}`);
    for (const env of [undefined, ...Object.keys(loaded.spec.environments)]) {
      for (const mesh of ['istio', 'gateway-api'] as MeshKind[]) {
        out.push({ label: `${file.slice(ROOT.length + 1)}${env ? ` (env ${env})` : ''} --mesh ${mesh}`, result: await renderFile(file, { env, mesh }) });
      }
    }
  }
  return out;
}
