// `berth validate` and `berth schema`.
import { formatSpecErrors, jsonSchema, loadSpec } from '../../contract/index.js';
import { resolveContext } from '../context.js';
import { green, useColor } from '../output.js';

export async function validate(o: { file?: string; env?: string; json?: boolean }): Promise<void> {
  const ctx = resolveContext(o.file, true);
  const res = await loadSpec(ctx.specFile!, { env: o.env });
  if (o.json) {
    process.stdout.write(JSON.stringify(res.ok ? { ok: true, file: res.file, app: res.spec.app, services: Object.keys(res.spec.services), warnings: res.warnings } : { ok: false, errors: res.errors }) + '\n');
    if (!res.ok) process.exitCode = 2;
    return;
  }
  if (!res.ok) {
    process.stderr.write(formatSpecErrors(res.errors, { color: useColor(process.stderr) }) + '\n');
    process.exitCode = 2;
    return;
  }
  if (res.warnings.length) process.stderr.write(formatSpecErrors(res.warnings, { color: useColor(process.stderr) }) + '\n');
  const names = Object.keys(res.spec.services);
  process.stdout.write(`${green('ok')}: ${res.file} — app ${res.spec.app}, ${names.length} service${names.length === 1 ? '' : 's'} (${names.join(', ')})${o.env ? `, env ${o.env}` : ''}\n`);
}

export async function schema(): Promise<void> {
  process.stdout.write(JSON.stringify(jsonSchema(), null, 2) + '\n');
}
