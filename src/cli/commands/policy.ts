// `berth policy report`: every policy rule's result for every service it matches — pass, fail
// (an enforced rule violated), warn (an audited one), skip (a global anchor excluded it) — as a
// Kyverno PolicyReport lists them. Exit 1 when a result is fail, 2 when the spec is invalid.
import { checkPolicies, formatSpecErrors, loadSpec, POLICY_RESULT_KINDS as RESULTS, policyReport, type PolicyResult } from '../../contract/index.js';
import { resolveContext } from '../context.js';
import { errors } from '../errors.js';
import { bold, dim, green, red, table, useColor, yellow } from '../output.js';
import { shortFile } from '../policy-gate.js';

function colour(r: PolicyResult['result']): string {
  return r === 'pass' ? green(r) : r === 'fail' ? red(r) : r === 'warn' ? yellow(r) : dim(r);
}

export async function report(o: { file?: string; env?: string; json?: boolean }): Promise<void> {
  const ctx = resolveContext(o.file, true);
  const res = await loadSpec(ctx.specFile!, { env: o.env });
  if (!res.ok) throw errors.invalidSpec(formatSpecErrors(res.errors, { color: useColor(process.stderr) }));
  const check = checkPolicies({ spec: res.spec, file: res.file, dir: res.dir, env: o.env, locator: res.locator, baseLocator: res.baseLocator });
  if (check.errors.length) throw errors.invalidSpec(formatSpecErrors(check.errors, { color: useColor(process.stderr) }));
  const results = check.evaluation.results;
  const rep = policyReport(res.spec, check, o.env);
  const summary = rep.summary;
  if (o.json) {
    process.stdout.write(JSON.stringify(rep) + '\n');
  } else if (check.policies.length === 0) {
    process.stdout.write(`no policies: add \`policies:\` to the spec or *.policy.yaml files beside it (examples/policies/)\n`);
  } else {
    const order = new Map(Object.keys(res.spec.services).map((s, i) => [s, i]));
    const perService = [...results].sort((a, b) => order.get(a.service)! - order.get(b.service)!); // stable: rule order kept
    const rows = perService.map((r) => [r.service, `${r.policy}/${r.rule}`, colour(r.result), r.result === 'fail' || r.result === 'warn' ? `${shortFile(r.file ?? '')}:${r.line}:${r.col}: ${r.message ?? ''}` : '']);
    process.stdout.write(table(['SERVICE', 'POLICY/RULE', 'RESULT', 'MESSAGE'], rows) + '\n');
    process.stdout.write(`${bold(res.spec.app)}${o.env ? ` (env ${o.env})` : ''}: ${RESULTS.map((k) => `${summary[k]} ${k}`).join(', ')}\n`);
  }
  if (summary.fail > 0) process.exitCode = 1;
}
