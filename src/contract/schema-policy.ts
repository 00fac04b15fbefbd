// Spec fields for policies: `policies:` (named rules checked before anything is applied, as
// Kyverno's validate rules) and the service `labels:` that rules select services by. The same
// schema reads `*.policy.yaml` files beside the spec (policy-files.ts).
import { z } from 'zod';
import { Label } from './label.js';

/** Kubernetes label keys (optional DNS-1123 subdomain prefix + name) and values. */
const LABEL_KEY_RE = /^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*\/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$/;
const LABEL_VALUE_RE = /^([A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)?$/;

export const ServiceLabels = z
  .record(
    z.string().regex(LABEL_KEY_RE, { message: 'must be a Kubernetes label key: an optional DNS prefix and "/", then up to 63 letters, digits, "-", "_", "."' }),
    z.union([z.string(), z.number(), z.boolean()]).transform((v) => String(v)).pipe(z.string().regex(LABEL_VALUE_RE, { message: 'must be a Kubernetes label value: up to 63 letters, digits, "-", "_", ".", starting and ending alphanumeric' })),
  )
  .optional()
  .describe('Labels of the service (Kubernetes metadata.labels on its Deployment and pods); policies select services by them.');

export const POLICY_ACTIONS = ['enforce', 'audit'] as const;
/** Kyverno's deny-condition operators. */
export const DENY_OPERATORS = [
  'Equals',
  'NotEquals',
  'In',
  'AnyIn',
  'AllIn',
  'NotIn',
  'AnyNotIn',
  'AllNotIn',
  'GreaterThan',
  'GreaterThanOrEquals',
  'LessThan',
  'LessThanOrEquals',
] as const;

const Patterns = z.array(z.string().min(1, { message: 'must not be empty' }));

export const PolicyMatch = z
  .strictObject({
    names: Patterns.optional().describe('Service names; wildcards * and ? (any one matches).'),
    labels: z.record(z.string(), z.string()).optional().describe('Labels the service must all carry; values may use wildcards * and ?.'),
    environments: Patterns.optional().describe('Environments (--env) the rule applies in; wildcards * and ?. A rule with this list does not apply without --env.'),
  })
  .describe('Which services a rule applies to: every criterion given must hold (names and environments: any one entry).');

export const DenyCondition = z.strictObject({
  key: z.string().min(1).describe('A service field, as a dotted path (`replicas`, `labels.owner`, `release.strategy`), optionally in {{ }}; also `name` and `environment`.'),
  operator: z.enum(DENY_OPERATORS).describe("Kyverno's operators: Equals, NotEquals, In, AnyIn, AllIn, NotIn, AnyNotIn, AllNotIn, GreaterThan(OrEquals), LessThan(OrEquals)."),
  value: z.unknown().optional().describe('What the key is compared with (wildcards * and ? in strings for Equals, NotEquals and the In family).'),
  message: z.string().optional(),
});

const Conditions = z.array(DenyCondition);
type ConditionSet = { any?: z.output<typeof DenyCondition>[]; all?: z.output<typeof DenyCondition>[] };

export const PolicyDeny = z
  .union([
    Conditions.transform((all): { conditions: ConditionSet } => ({ conditions: { all } })),
    z.strictObject({
      conditions: z.union([Conditions.transform((all): ConditionSet => ({ all })), z.strictObject({ any: Conditions.optional(), all: Conditions.optional() })]),
    }),
  ])
  .describe('Deny the service when the conditions hold: any (one is enough) and/or all (every one), as Kyverno deny rules.');

export const PolicyValidate = z
  .strictObject({
    message: z.string().min(1, { message: 'say what is wrong and how to fix it' }).describe('Printed with every violation.'),
    pattern: z.record(z.string(), z.unknown()).optional().describe('A partial service spec the service must match (Kyverno pattern: wildcards, operators, anchors).'),
    deny: PolicyDeny.optional(),
    // Also accepted here (the issue's wording puts them inside `validate`); Kyverno's place is the rule.
    match: PolicyMatch.optional().describe('Same as the rule\'s `match` (give it in one place).'),
    exclude: PolicyMatch.optional().describe('Same as the rule\'s `exclude` (give it in one place).'),
    action: z.enum(POLICY_ACTIONS).optional().describe('Same as the rule\'s `action` (give it in one place).'),
  })
  .superRefine((v, ctx) => {
    if ((v.pattern === undefined) === (v.deny === undefined)) ctx.addIssue({ code: 'custom', message: 'give exactly one of `pattern` or `deny`' });
  });

const HOISTED = ['match', 'exclude', 'action'] as const;

export const PolicyRule = z
  .strictObject({
    name: Label.describe('Rule name (a DNS-1123 label), unique within the policy.'),
    match: PolicyMatch.optional().describe('Which services the rule checks (default: every service).'),
    exclude: PolicyMatch.optional().describe('Services the rule skips, even when matched.'),
    validate: PolicyValidate,
    action: z.enum(POLICY_ACTIONS).optional().describe("Overrides the policy's action for this rule."),
  })
  .superRefine((r, ctx) => {
    for (const k of HOISTED) {
      if (r[k] !== undefined && r.validate[k] !== undefined) ctx.addIssue({ code: 'custom', path: ['validate', k], message: `\`${k}\` is given twice: on the rule and in validate; keep one` });
    }
  })
  // One place for the evaluator and the renderer: the rule's.
  .transform((r) => ({ ...r, match: r.match ?? r.validate.match, exclude: r.exclude ?? r.validate.exclude, action: r.action ?? r.validate.action }));

export const PolicySchema = z
  .strictObject({
    name: Label.describe('Policy name (a DNS-1123 label).'),
    description: z.string().optional(),
    action: z.enum(POLICY_ACTIONS).default('audit').describe('enforce: a violation refuses the spec (exit 2); audit: it is reported and the spec is applied (Kyverno validationFailureAction).'),
    rules: z.array(PolicyRule).min(1, { message: 'a policy needs at least one rule' }),
  })
  .superRefine((p, ctx) => {
    const seen = new Set<string>();
    p.rules.forEach((r, i) => {
      if (seen.has(r.name)) ctx.addIssue({ code: 'custom', path: ['rules', i, 'name'], message: `rule name \`${r.name}\` is used twice in this policy` });
      seen.add(r.name);
    });
  })
  .describe('A named set of rules checked on every service before anything is applied.');

export const Policies = z
  .array(PolicySchema)
  .optional()
  .describe('Policies checked by validate, apply, up and render (also read from *.policy.yaml files beside the spec); see docs/policies.md.');

export type PolicySpec = z.output<typeof PolicySchema>;
export type PolicyRuleSpec = z.output<typeof PolicyRule>;
export type PolicyMatchSpec = z.output<typeof PolicyMatch>;
export type DenyConditionSpec = z.output<typeof DenyCondition>;
export type DenyOperator = (typeof DENY_OPERATORS)[number];
export type PolicyAction = (typeof POLICY_ACTIONS)[number];
