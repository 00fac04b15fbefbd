// Policies from `*.policy.yaml` files beside the spec, and the check every command runs: the
// spec's `policies:` plus those files, evaluated on the loaded spec. A file holds one policy, a
// list of policies, or `policies: [...]`; its own mistakes are SpecErrors at its file:line:col.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import type { AppSpec } from './schema.js';
import { PolicySchema, type PolicySpec } from './schema-policy.js';
import { type SpecError, joinPath, sortErrors } from './errors.js';
import { YamlLocator, parseYaml, type Locator, type PathSeg } from './positions.js';
import { issueToProblems } from './issues.js';
import { isPlainObject } from './shape.js';
import { evaluatePolicies, type PolicyEvaluation } from './policy-eval.js';

const POLICY_FILE_RE = /\.policy\.ya?ml$/;
const PolicyList = z.array(PolicySchema);

/** The `*.policy.yaml` / `*.policy.yml` files in `dir`, sorted by name. */
export function policyFiles(dir: string): string[] {
  try {
    return readdirSync(dir)
      .filter((n) => POLICY_FILE_RE.test(n))
      .sort()
      .map((n) => join(dir, n));
  } catch {
    return []; // an unreadable directory has no policy files to offer; the spec itself was read
  }
}

export interface LoadedPolicy {
  policy: PolicySpec;
  /** Where it was declared (the spec or a policy file) and at which path inside it. */
  file: string;
  path: PathSeg[];
}

/** Reads one policy file: its policies, or its located errors. */
export function readPolicyFile(file: string): { policies: LoadedPolicy[]; errors: SpecError[] } {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    return { policies: [], errors: [{ file, line: 0, col: 0, path: '', message: `cannot read the policy file: ${(e as Error).message}` }] };
  }
  const parsed = parseYaml(text);
  if (parsed.errors.length > 0) return { policies: [], errors: parsed.errors.map((e) => ({ file, line: e.line, col: e.col, path: '', message: `YAML syntax error: ${e.message}` })) };
  const raw: unknown = parsed.doc.toJS({ maxAliasCount: 1000 });
  const locator: Locator = new YamlLocator(parsed);
  let list: unknown;
  let prefix: PathSeg[];
  if (Array.isArray(raw)) [list, prefix] = [raw, []];
  else if (isPlainObject(raw) && 'policies' in raw && !('rules' in raw)) [list, prefix] = [raw.policies, ['policies']];
  else [list, prefix] = [[raw], []];
  const single = !Array.isArray(raw) && prefix.length === 0;
  const result = PolicyList.safeParse(list);
  if (!result.success) {
    const errors = result.error.issues.flatMap((issue) =>
      issueToProblems(issue, { data: list, schema: PolicyList }).map((p) => {
        const path = single ? p.path.slice(1) : [...prefix, ...p.path];
        const pos = locator.locate(path, p.mode ?? 'value');
        const e: SpecError = { file, line: pos.line, col: pos.col, path: joinPath(path), message: p.message };
        if (p.hint !== undefined) e.hint = p.hint;
        return e;
      }),
    );
    return { policies: [], errors: sortErrors(errors) };
  }
  return { policies: result.data.map((policy, i) => ({ policy, file, path: single ? [] : [...prefix, i] })), errors: [] };
}

export interface PolicyCheck {
  /** Every policy in force, the spec's first, then the files' in file order. */
  policies: LoadedPolicy[];
  /** Problems in the policy files themselves, or a policy name used twice. */
  errors: SpecError[];
  evaluation: PolicyEvaluation;
}

export interface PolicyCheckInput {
  spec: AppSpec;
  /** The spec file (absolute): policy files are looked for beside it. */
  file: string;
  dir: string;
  env?: string;
  locator?: Locator;
  baseLocator?: Locator;
}

/** Collects the spec's and the files' policies and evaluates them on the spec. */
export function checkPolicies(input: PolicyCheckInput): PolicyCheck {
  const policies: LoadedPolicy[] = (input.spec.policies ?? []).map((policy, i) => ({ policy, file: input.file, path: ['policies', i] }));
  const errors: SpecError[] = [];
  for (const f of policyFiles(input.dir)) {
    const r = readPolicyFile(f);
    policies.push(...r.policies);
    errors.push(...r.errors);
  }
  const seen = new Map<string, LoadedPolicy>();
  for (const p of policies) {
    const first = seen.get(p.policy.name);
    if (first) errors.push({ file: p.file, line: 0, col: 0, path: joinPath([...p.path, 'name']), message: `policy \`${p.policy.name}\` is declared twice (also in ${first.file})`, hint: 'give each policy its own name' });
    else seen.set(p.policy.name, p);
  }
  const unique = [...seen.values()];
  const evaluation = evaluatePolicies(input.spec, unique.map((p) => p.policy), { env: input.env, file: input.file, locator: input.locator, baseLocator: input.baseLocator });
  return { policies: unique, errors: sortErrors(errors), evaluation };
}
