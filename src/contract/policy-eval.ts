// Evaluating policies on a loaded spec: for each rule, each service it matches (name, labels,
// environment) is checked with the rule's pattern or deny conditions. A violation points at the
// offending field in the spec (or at the service when the field is missing), as file:line:col.
import type { AppSpec } from './schema.js';
import type { PolicyAction, PolicyMatchSpec, PolicySpec } from './schema-policy.js';
import type { Locator, PathSeg } from './positions.js';
import { joinPath } from './errors.js';
import { describeValue } from './issues.js';
import { matchPattern, wildcardMatch } from './policy-pattern.js';
import { denyingCondition, keyPath } from './policy-deny.js';

/** pass: the service satisfies the rule; fail: an enforced rule is violated; warn: an audited one is. */
export type PolicyResultKind = 'pass' | 'fail' | 'warn' | 'skip';

export interface PolicyResult {
  policy: string;
  rule: string;
  service: string;
  result: PolicyResultKind;
  action: PolicyAction;
  /** The rule's message (set on fail and warn). */
  message?: string;
  /** What exactly did not match, e.g. "expected `>=2`, got the number 1". */
  detail?: string;
  /** Dotted spec path of the offending field (or of the service). */
  path?: string;
  /** Position in the spec of `path` (absolute file, 1-based line and column). */
  file?: string;
  line?: number;
  col?: number;
}

export interface PolicyEvaluation {
  results: PolicyResult[];
  /** Every fail and warn, in spec order. */
  violations: PolicyResult[];
  /** True when an enforced rule is violated: the spec must not be applied. */
  blocked: boolean;
}

export interface EvaluateOptions {
  /** The environment the spec was loaded for (`--env`). */
  env?: string;
  /** The spec file, for positions. */
  file: string;
  /** Positions in the spec (LoadResult.locator); without it every position is 1:1. */
  locator?: Locator;
  /** Positions in the spec without the environment overlay (LoadResult.baseLocator): where a service is declared. */
  baseLocator?: Locator;
}

function anyMatch(patterns: readonly string[] | undefined, value: string | undefined): boolean {
  if (patterns === undefined) return true;
  return value !== undefined && patterns.some((p) => wildcardMatch(p, value));
}

/** Whether a `match` (or `exclude`) selects the service: every criterion given holds. */
export function selects(m: PolicyMatchSpec | undefined, name: string, labels: Record<string, string> | undefined, env: string | undefined): boolean {
  if (m === undefined) return true;
  if (!anyMatch(m.names, name)) return false;
  if (!anyMatch(m.environments, env)) return false;
  for (const [k, v] of Object.entries(m.labels ?? {})) {
    const have = labels?.[k];
    if (have === undefined || !wildcardMatch(v, have)) return false;
  }
  return true;
}

function valueAt(root: unknown, path: readonly PathSeg[]): unknown {
  let v = root;
  for (const seg of path) {
    if (v !== null && typeof v === 'object') v = (v as Record<string, unknown>)[String(seg)];
    else return undefined;
  }
  return v;
}

/** Evaluates every rule of every policy on every service of the spec. */
export function evaluatePolicies(spec: AppSpec, policies: readonly PolicySpec[], opts: EvaluateOptions): PolicyEvaluation {
  const results: PolicyResult[] = [];
  const locate = (rel: PathSeg[], service: string, svc: unknown) => {
    const full: PathSeg[] = ['services', service, ...rel];
    const at = (p: { line: number; col: number } | undefined) => ({ path: joinPath(full), file: opts.file, line: p?.line ?? 1, col: p?.col ?? 1 });
    if (opts.locator === undefined) return at(undefined);
    const serviceKey = () => (opts.baseLocator ?? opts.locator)!.locate(['services', service], 'key');
    if (rel.length === 0 || valueAt(svc, rel) === undefined) return at(serviceKey());
    // A field that has a value only by default is not in the text: the locator answers with the
    // nearest parent it found; when that is the service itself, the service's key is clearer.
    const pos = opts.locator.locate(full);
    const own = opts.locator.locate(['services', service]);
    return at(pos.line === own.line && pos.col === own.col && pos.overlay === own.overlay ? serviceKey() : pos);
  };
  const services = Object.entries(spec.services);
  for (const policy of policies) {
    for (const rule of policy.rules) {
      const action = rule.action ?? policy.action;
      for (const [name, svc] of services) {
        const labels = (svc as { labels?: Record<string, string> }).labels;
        const base = { policy: policy.name, rule: rule.name, service: name, action };
        if (!selects(rule.match, name, labels, opts.env) || (rule.exclude !== undefined && selects(rule.exclude, name, labels, opts.env))) continue;
        const bad = violation(rule.validate, name, svc, opts.env);
        if (bad === 'skip') {
          results.push({ ...base, result: 'skip' });
          continue;
        }
        if (bad === undefined) {
          results.push({ ...base, result: 'pass' });
          continue;
        }
        results.push({ ...base, result: action === 'enforce' ? 'fail' : 'warn', message: rule.validate.message, detail: bad.detail, ...locate(bad.path, name, svc) });
      }
    }
  }
  const violations = results.filter((r) => r.result === 'fail' || r.result === 'warn');
  // Plain comparisons: localeCompare (ICU collation) costs more than the whole evaluation.
  const cmp = (x: string, y: string) => (x < y ? -1 : x > y ? 1 : 0);
  violations.sort((a, b) => (a.line ?? 0) - (b.line ?? 0) || (a.col ?? 0) - (b.col ?? 0) || cmp(a.policy, b.policy) || cmp(a.rule, b.rule));
  return { results, violations, blocked: violations.some((v) => v.result === 'fail') };
}

type Validate = PolicySpec['rules'][number]['validate'];

/** The offending path (relative to the service) and what was wrong; undefined when it passes; 'skip' when a global anchor excludes it. */
function violation(v: Validate, name: string, svc: unknown, env: string | undefined): { path: PathSeg[]; detail: string } | undefined | 'skip' {
  if (v.pattern !== undefined) {
    const r = matchPattern(svc, v.pattern);
    if (r === 'ok' || r === 'skip') return r === 'skip' ? 'skip' : undefined;
    const where = r.path.length ? `${joinPath(r.path)}: ` : '';
    return { path: r.path, detail: `${where}expected ${r.expected}, got ${r.got === undefined ? 'nothing (the field is not set)' : describeValue(r.got)}` };
  }
  const conditions = v.deny?.conditions ?? {};
  const hit = denyingCondition(conditions, { name, environment: env, service: svc });
  if (hit === undefined) return undefined;
  if (hit === null) return { path: [], detail: 'denied' };
  const path = keyPath(hit.key) ?? [];
  return { path, detail: `${hit.key.trim()} ${hit.operator} ${JSON.stringify(hit.value ?? null)}${hit.message ? ` (${hit.message})` : ''}` };
}

/** `file:line:col: policy/rule: message` — one line per violation, as compilers print. */
export function formatViolation(v: PolicyResult, relativeTo?: (file: string) => string): string {
  const file = v.file === undefined ? '' : relativeTo ? relativeTo(v.file) : v.file;
  const tag = v.result === 'warn' ? ' (audit)' : '';
  return `${file}:${v.line ?? 1}:${v.col ?? 1}: ${v.policy}/${v.rule}: ${v.message ?? ''}${tag}${v.detail ? ` [${v.detail}]` : ''}`;
}
