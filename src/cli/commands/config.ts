// `berth config`: the effective spec — the file after the environment overlay, with every default
// filled in — as docker compose's `config` prints it. YAML by default, JSON with --json. The overlay
// is applied, so `environments` is left out; secret values (`secrets.<name>.value`) are masked.
import { stringify } from 'yaml';
import { formatSpecErrors, loadSpec } from '../../contract/index.js';
import { resolveContext } from '../context.js';
import { errors } from '../errors.js';
import { useColor } from '../output.js';

export const MASK = '********';

/** The printable effective spec: overlays applied (so no `environments`), secret values masked. */
export function effectiveSpec(spec: object): Record<string, unknown> {
  const out = structuredClone(spec) as Record<string, unknown>;
  delete out.environments;
  const secrets = out.secrets as Record<string, Record<string, unknown>> | undefined;
  for (const s of Object.values(secrets ?? {})) if (typeof s.value === 'string') s.value = MASK;
  return out;
}

export async function config(o: { file?: string; env?: string; json?: boolean; yaml?: boolean }): Promise<void> {
  if (o.json && o.yaml) throw errors.usage('--json and --yaml exclude each other');
  const ctx = resolveContext(o.file, true);
  const res = await loadSpec(ctx.specFile!, { env: o.env });
  if (!res.ok) {
    process.stderr.write(formatSpecErrors(res.errors, { color: useColor(process.stderr) }) + '\n');
    process.exitCode = 2;
    return;
  }
  const spec = effectiveSpec(res.spec);
  if (o.json) {
    process.stdout.write(JSON.stringify(spec, null, 2) + '\n');
    return;
  }
  const header = `# effective spec of ${res.file}${o.env ? ` (environment ${o.env})` : ''}: variables interpolated, overlay applied, defaults filled in, secret values masked\n`;
  process.stdout.write(header + stringify(spec, { lineWidth: 0 }));
}
