// The policy report (`berth policy report --json`, and a GitOps source's in the dashboard): every
// rule's result for every service it matches, grouped by service, with a count of each result.
import type { PolicyCheck } from './policy-files.js';
import type { PolicyResult, PolicyResultKind } from './policy-eval.js';
import type { AppSpec } from './schema.js';

export const POLICY_RESULT_KINDS = ['pass', 'fail', 'warn', 'skip'] as const;

export interface PolicyReport {
  app: string;
  env: string | null;
  policies: { name: string; file: string; rules: string[] }[];
  summary: Record<PolicyResultKind, number>;
  /** In spec order; each service's results in rule order. */
  services: { service: string; results: Omit<PolicyResult, 'service'>[] }[];
}

/** The report of a checked spec; `file` names are passed through `relative` (a repository's own paths, say). */
export function policyReport(spec: AppSpec, check: PolicyCheck, env: string | undefined, relative: (file: string) => string = (f) => f): PolicyReport {
  const results = check.evaluation.results;
  const summary = Object.fromEntries(POLICY_RESULT_KINDS.map((k) => [k, results.filter((r) => r.result === k).length])) as Record<PolicyResultKind, number>;
  return {
    app: spec.app,
    env: env ?? null,
    policies: check.policies.map((p) => ({ name: p.policy.name, file: relative(p.file), rules: p.policy.rules.map((r) => r.name) })),
    summary,
    services: Object.keys(spec.services).map((service) => ({
      service,
      results: results.filter((r) => r.service === service).map(({ service: _s, ...r }) => (r.file !== undefined ? { ...r, file: relative(r.file) } : r)),
    })),
  };
}
