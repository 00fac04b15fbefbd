// The policy check `validate`, `apply`, `up` and `render` run on a loaded spec before anything else:
// every violation printed as `file:line:col: policy/rule: message` on stderr; an enforced one
// refuses the spec (exit 2, nothing applied or rendered), audited ones are reported and let through.
import { relative, isAbsolute } from 'node:path';
import { checkPolicies, formatSpecErrors, formatViolation, type AppSpec, type Locator, type PolicyCheck } from '../contract/index.js';
import { CliError, errors } from './errors.js';
import { red, useColor, yellow } from './output.js';

export interface LoadedForPolicy {
  spec: AppSpec;
  file: string;
  dir: string;
  locator?: Locator;
  baseLocator?: Locator;
}

/** A file name relative to the working directory when it is below it (as compilers print). */
export function shortFile(file: string): string {
  const r = relative(process.cwd(), file);
  return r !== '' && !r.startsWith('..') && !isAbsolute(r) ? r : file;
}

export const policyRefused = (count: number) =>
  new CliError('BERTH_E_POLICY', `${count} enforced polic${count === 1 ? 'y violation' : 'y violations'}: the spec was refused, nothing was applied`, 2, 'fix the fields named above, or set the rule to `action: audit` to report it without refusing');

/** Runs the policies; prints violations unless `quiet`; throws (exit 2) on policy-file errors or an enforced violation. */
export function enforcePolicies(loaded: LoadedForPolicy, env: string | undefined, opts: { quiet?: boolean } = {}): PolicyCheck {
  const check = checkPolicies({ spec: loaded.spec, file: loaded.file, dir: loaded.dir, env, locator: loaded.locator, baseLocator: loaded.baseLocator });
  if (check.errors.length > 0) throw errors.invalidSpec(formatSpecErrors(check.errors, { color: useColor(process.stderr), relativeTo: process.cwd() }));
  if (!opts.quiet) printViolations(check);
  if (check.evaluation.blocked) throw policyRefused(check.evaluation.violations.filter((v) => v.result === 'fail').length);
  return check;
}

export function printViolations(check: PolicyCheck): void {
  for (const v of check.evaluation.violations) {
    const line = formatViolation(v, shortFile);
    process.stderr.write(`${v.result === 'fail' ? red(line, process.stderr) : yellow(line, process.stderr)}\n`);
  }
}
