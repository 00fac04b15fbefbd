// Policies as Kyverno ClusterPolicies over the rendered Deployments, so a cluster running Kyverno
// enforces what Berth checked before rendering. A pattern on a service field becomes a pattern on
// the Deployment field it renders to (replicas → spec.replicas, image → the app container's image,
// resources.memoryMiB → its memory limit in Mi…); a deny key becomes a JMESPath over the object. A
// rule that names a field with no such counterpart stays a Berth-only check, with a warning.
import { parseKey, selects, type PolicyMatchSpec, type PolicyRuleSpec, type PolicySpec } from '../../contract/index.js';
import { appLabels } from './labels.js';
import type { AppContext, AppRenderer, Json, JsonObject, K8sObject } from './types.js';

const APP_CONTAINER = 'app';
const CONTAINERS = ['spec', 'template', 'spec', 'containers'];
const PROBE_KEYS: Record<string, string> = { readiness: 'readinessProbe', liveness: 'livenessProbe', startup: 'startupProbe' };
const PROBE_FIELDS = new Set(['initialDelaySeconds', 'periodSeconds', 'timeoutSeconds', 'successThreshold', 'failureThreshold']);

class Untranslatable extends Error {}

/** A leaf of the Deployment pattern: where it goes (in the object, or in the app container) and its value. */
interface Leaf {
  inContainer: boolean;
  path: string[];
  value: Json;
}

const anchored = (anchor: string | undefined, key: string): string => {
  switch (anchor) {
    case 'condition':
      return `(${key})`;
    case 'equality':
      return `=(${key})`;
    case 'negation':
      return `X(${key})`;
    case 'existence':
      return `^(${key})`;
    case 'global':
      return `<(${key})`;
    default:
      return key;
  }
};

/** A string condition with a unit added to each bare number (256 → 256Mi), wildcards and operators kept. */
function withUnit(v: unknown, unit: string): Json {
  if (typeof v === 'number') return `${v}${unit}`;
  if (typeof v !== 'string') throw new Untranslatable('a number or a string condition');
  return v.replace(/(^|[|&<>=!\s-])(\d+(?:\.\d+)?)(?=$|[\s|&-])/g, `$1$2${unit}`);
}

function asJson(v: unknown): Json {
  return JSON.parse(JSON.stringify(v ?? null)) as Json;
}

/** A probe pattern: present (`*`, `?*`) becomes "has a period" (every rendered probe has one); a mapping keeps its timing fields. */
function probePattern(v: unknown): Json {
  if (v === '*' || v === '?*') return { periodSeconds: '>0' };
  if (v === null || v === '') return null;
  if (typeof v === 'object' && v !== null && !Array.isArray(v)) {
    const out: JsonObject = {};
    for (const [k, sub] of Object.entries(v)) {
      const { key, anchor } = parseKey(k);
      if (!PROBE_FIELDS.has(key)) throw new Untranslatable(`probes.*.${key}`);
      out[anchored(anchor, key)] = asJson(sub);
    }
    return out;
  }
  throw new Untranslatable('probes (a mapping or a wildcard)');
}

/** The Deployment pattern leaves of one top-level service pattern key. */
function leaves(rawKey: string, value: unknown): Leaf[] {
  const { key, anchor } = parseKey(rawKey);
  const a = (k: string) => anchored(anchor, k);
  const sub = (): [string, unknown, string | undefined][] => {
    if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new Untranslatable(`${key} (a mapping)`);
    return Object.entries(value).map(([k, v]) => {
      const p = parseKey(k);
      return [p.key, v, p.anchor];
    });
  };
  switch (key) {
    case 'replicas':
      return [{ inContainer: false, path: ['spec', a('replicas')], value: asJson(value) }];
    case 'stopGracePeriodSeconds':
      return [{ inContainer: false, path: ['spec', 'template', 'spec', a('terminationGracePeriodSeconds')], value: asJson(value) }];
    case 'image':
      return [{ inContainer: true, path: [a('image')], value: asJson(value) }];
    case 'labels':
      return sub().map(([k, v, an]) => ({ inContainer: false, path: ['metadata', a('labels'), anchored(an, k)], value: asJson(v) }));
    case 'resources':
      return sub().map(([k, v, an]) => {
        if (k === 'memoryMiB') return { inContainer: true, path: [a('resources'), a('limits'), anchored(an, 'memory')], value: withUnit(v, 'Mi') };
        if (k === 'cpuMillis') return { inContainer: true, path: [a('resources'), a('limits'), anchored(an, 'cpu')], value: withUnit(v, 'm') };
        throw new Untranslatable(`resources.${k}`);
      });
    case 'probes':
      return sub().map(([k, v, an]) => {
        const target = PROBE_KEYS[k];
        if (target === undefined) throw new Untranslatable(`probes.${k}`);
        return { inContainer: true, path: [anchored(an ?? anchor, target)], value: probePattern(v) };
      });
    default:
      throw new Untranslatable(key);
  }
}

function put(root: JsonObject, path: string[], value: Json): void {
  let node = root;
  for (const seg of path.slice(0, -1)) {
    const next = node[seg];
    if (typeof next !== 'object' || next === null || Array.isArray(next)) node[seg] = {};
    node = node[seg] as JsonObject;
  }
  node[path[path.length - 1]] = value;
}

/** A Berth service pattern as a Deployment pattern. */
export function deploymentPattern(pattern: Record<string, unknown>): JsonObject {
  const root: JsonObject = {};
  const container: JsonObject = {};
  for (const [k, v] of Object.entries(pattern)) {
    for (const leaf of leaves(k, v)) put(leaf.inContainer ? container : root, leaf.path, leaf.value);
  }
  if (Object.keys(container).length > 0) put(root, CONTAINERS, [{ '(name)': APP_CONTAINER, ...container }]);
  return root;
}

const APP_IN_POD = `request.object.spec.template.spec.containers[?name=='${APP_CONTAINER}'] | [0]`;

/** A deny key (a service field) as a JMESPath expression over the Deployment, or a literal. */
function denyKey(key: string, env: string | undefined): { key: string; unit?: string } {
  let k = key.trim();
  const braces = /^\{\{\s*(.*?)\s*\}\}$/.exec(k);
  if (braces) k = braces[1];
  if (k.startsWith('service.')) k = k.slice('service.'.length);
  if (k === 'environment') return { key: env ?? '' };
  if (k === 'name') return { key: '{{ request.object.metadata.name }}' };
  if (k === 'replicas') return { key: '{{ request.object.spec.replicas }}' };
  if (k === 'stopGracePeriodSeconds') return { key: '{{ request.object.spec.template.spec.terminationGracePeriodSeconds }}' };
  if (k === 'image') return { key: `{{ ${APP_IN_POD}.image }}` };
  if (k === 'resources.memoryMiB') return { key: `{{ ${APP_IN_POD}.resources.limits.memory }}`, unit: 'Mi' };
  if (k === 'resources.cpuMillis') return { key: `{{ ${APP_IN_POD}.resources.limits.cpu }}`, unit: 'm' };
  if (k.startsWith('labels.')) return { key: `{{ request.object.metadata.labels."${k.slice('labels.'.length).replace(/"/g, '\\"')}" }}` };
  throw new Untranslatable(k);
}

function denyConditions(rule: PolicyRuleSpec, env: string | undefined): JsonObject {
  const conditions = rule.validate.deny?.conditions ?? {};
  const tr = (list: NonNullable<typeof conditions.any>) =>
    list.map((c) => {
      const { key, unit } = denyKey(c.key, env);
      const ordered = /Than/.test(c.operator);
      const value = unit !== undefined && ordered ? withUnit(c.value, unit) : asJson(c.value);
      return { key, operator: c.operator, value, ...(c.message !== undefined ? { message: c.message } : {}) } as JsonObject;
    });
  const out: JsonObject = {};
  if (conditions.any?.length) out.any = tr(conditions.any);
  if (conditions.all?.length) out.all = tr(conditions.all);
  return { conditions: out };
}

function resourceFilter(m: PolicyMatchSpec | undefined, app: string, namespace: string | undefined): JsonObject {
  const resources: JsonObject = { kinds: ['Deployment'] };
  // A service's variants are Deployments `<service>.<variant>`: a name matches them too.
  if (m?.names) resources.names = m.names.flatMap((n) => [n, `${n}.*`]);
  resources.selector = { matchLabels: { ...(m?.labels ?? {}), 'app.kubernetes.io/part-of': app } };
  if (namespace) resources.namespaces = [namespace];
  return { resources };
}

function kyvernoRule(rule: PolicyRuleSpec, app: string, env: string | undefined, namespace: string | undefined): JsonObject {
  const validate: JsonObject = { message: rule.validate.message };
  if (rule.validate.pattern !== undefined) validate.pattern = deploymentPattern(rule.validate.pattern);
  else validate.deny = denyConditions(rule, env);
  const out: JsonObject = { name: rule.name, match: { any: [resourceFilter(rule.match, app, namespace)] }, validate };
  if (rule.exclude !== undefined) {
    const ex = resourceFilter({ ...rule.exclude }, app, namespace);
    // An exclude that names only an environment: decided at render time (below), not by Kyverno.
    if (rule.exclude.names || rule.exclude.labels) out.exclude = { any: [ex] };
  }
  return out;
}

/** Whether a rule applies in the rendered environment (Kyverno has no notion of it: decided here). */
function inEnvironment(rule: PolicyRuleSpec, env: string | undefined): boolean {
  const only = (m: PolicyMatchSpec | undefined) => (m?.environments ? { environments: m.environments } : undefined);
  if (!selects(only(rule.match), '', undefined, env)) return false;
  const ex = only(rule.exclude);
  return !(ex !== undefined && !rule.exclude?.names && !rule.exclude?.labels && selects(ex, '', undefined, env));
}

/** The ClusterPolicies for the app's policies (one per policy and action), and what could not be rendered. */
export function kyvernoPolicies(policies: readonly PolicySpec[], app: string, env: string | undefined, namespace: string | undefined, warn: (path: string, message: string) => void): K8sObject[] {
  const out: K8sObject[] = [];
  for (const policy of policies) {
    const byAction = new Map<string, JsonObject[]>();
    for (const rule of policy.rules) {
      if (!inEnvironment(rule, env)) continue;
      try {
        const action = rule.action ?? policy.action;
        byAction.set(action, [...(byAction.get(action) ?? []), kyvernoRule(rule, app, env, namespace)]);
      } catch (err) {
        if (!(err instanceof Untranslatable)) throw err;
        warn(`policies.${policy.name}.${rule.name}`, `not rendered for Kyverno: \`${err.message}\` has no Deployment field Berth renders it to; Berth still checks the rule before rendering and applying`);
      }
    }
    for (const [action, rules] of byAction) {
      const suffix = action !== policy.action ? `-${action}` : '';
      out.push({
        apiVersion: 'kyverno.io/v1',
        kind: 'ClusterPolicy',
        metadata: {
          name: `${app}-${policy.name}${suffix}`,
          labels: appLabels(app),
          annotations: { 'policies.kyverno.io/title': policy.name, ...(policy.description ? { 'policies.kyverno.io/description': policy.description } : {}) },
        },
        spec: { validationFailureAction: action === 'enforce' ? 'Enforce' : 'Audit', background: true, rules },
      });
    }
  }
  return out;
}

export const kyvernoRenderer: AppRenderer = {
  family: 'kyverno',
  handles: ['policies'],
  render(ctx: AppContext): K8sObject[] {
    return kyvernoPolicies(ctx.app.policies ?? [], ctx.app.app, ctx.env, ctx.options.namespace, ctx.warn);
  },
};
