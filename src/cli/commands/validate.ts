// `berth validate` and `berth schema`. Validation includes the policies (the spec's and the
// *.policy.yaml files beside it): an enforced violation makes the spec invalid (exit 2).
import { checkPolicies, formatSpecErrors, jsonSchema, loadSpec } from '../../contract/index.js';
import { resolveContext } from '../context.js';
import { green, useColor } from '../output.js';
import { policyRefused, printViolations } from '../policy-gate.js';

export async function validate(o: { file?: string; env?: string; json?: boolean }): Promise<void> {
  const ctx = resolveContext(o.file, true);
  const res = await loadSpec(ctx.specFile!, { env: o.env });
  const check = res.ok ? checkPolicies({ spec: res.spec, file: res.file, dir: res.dir, env: o.env, locator: res.locator, baseLocator: res.baseLocator }) : undefined;
  const errs = res.ok ? check!.errors : res.errors;
  const blocked = check?.evaluation.blocked === true;
  if (o.json) {
    const violations = check?.evaluation.violations ?? [];
    const ok = res.ok && errs.length === 0 && !blocked;
    process.stdout.write(JSON.stringify(res.ok && errs.length === 0 ? { ok, file: res.file, app: res.spec.app, services: Object.keys(res.spec.services), warnings: res.warnings, violations } : { ok: false, errors: errs, violations }) + '\n');
    if (!ok) process.exitCode = 2;
    return;
  }
  if (!res.ok || errs.length > 0) {
    process.stderr.write(formatSpecErrors(errs, { color: useColor(process.stderr) }) + '\n');
    process.exitCode = 2;
    return;
  }
  if (res.warnings.length) process.stderr.write(formatSpecErrors(res.warnings, { color: useColor(process.stderr) }) + '\n');
  printViolations(check!);
  if (blocked) throw policyRefused(check!.evaluation.violations.filter((v) => v.result === 'fail').length);
  const names = Object.keys(res.spec.services);
  const audits = check!.evaluation.violations.length;
  process.stdout.write(`${green('ok')}: ${res.file} — app ${res.spec.app}, ${names.length} service${names.length === 1 ? '' : 's'} (${names.join(', ')})${o.env ? `, env ${o.env}` : ''}${check!.policies.length ? `; ${check!.policies.length} polic${check!.policies.length === 1 ? 'y' : 'ies'}${audits ? `, ${audits} audit finding${audits === 1 ? '' : 's'}` : ''}` : ''}\n`);
}

export async function schema(): Promise<void> {
  process.stdout.write(JSON.stringify(jsonSchema(), null, 2) + '\n');
}
