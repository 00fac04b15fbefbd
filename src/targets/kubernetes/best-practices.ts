// A small evaluator of Kyverno's best-practice policies (kyverno/policies, best-practices/) on
// rendered objects: the rules a cluster running that set would enforce, checked without a cluster.
// Each rule is a function over a pod template's containers, named as the Kyverno policy is.
import { podSpecOf } from './pod-security.js';
import type { Json, JsonObject, K8sObject } from './types.js';

export interface PolicyViolation {
  policy: string;
  /** `Deployment/web` */
  object: string;
  /** The container, when the rule is per container. */
  container?: string;
  message: string;
}

const obj = (v: Json | undefined): JsonObject => (v && typeof v === 'object' && !Array.isArray(v) ? v : {});
const arr = (v: Json | undefined): Json[] => (Array.isArray(v) ? v : []);
const set = (v: Json | undefined) => v !== undefined && v !== null && v !== '';

/** The image's tag ('' when it has none; a digest counts as pinned). */
export function imageTag(image: string): string {
  if (image.includes('@')) return '@digest';
  const last = image.slice(image.lastIndexOf('/') + 1);
  const i = last.lastIndexOf(':');
  return i === -1 ? '' : last.slice(i + 1);
}

type Rule = (c: JsonObject, kind: 'containers' | 'initContainers', pod: JsonObject) => string | undefined;

const RULES: Record<string, Rule> = {
  'require-requests-limits': (c, kind) => {
    if (kind !== 'containers') return undefined;
    const r = obj(c.resources);
    const missing = [set(obj(r.requests).memory) ? '' : 'requests.memory', set(obj(r.requests).cpu) ? '' : 'requests.cpu', set(obj(r.limits).memory) ? '' : 'limits.memory'].filter(Boolean);
    return missing.length ? `CPU and memory resource requests and a memory limit are required (missing ${missing.join(', ')})` : undefined;
  },
  'disallow-latest-tag': (c) => {
    const tag = imageTag(String(c.image ?? ''));
    if (tag === '') return 'an image tag is required';
    return tag === 'latest' ? 'using a mutable image tag e.g. `latest` is not allowed' : undefined;
  },
  'require-pod-probes': (c, kind) => (kind === 'containers' && !(c.livenessProbe && c.readinessProbe) ? 'liveness and readiness probes are required' : undefined),
  'disallow-privilege-escalation': (c) => (obj(c.securityContext).allowPrivilegeEscalation !== false ? 'privilege escalation is disallowed: allowPrivilegeEscalation must be false' : undefined),
  'require-ro-rootfs': (c) => (obj(c.securityContext).readOnlyRootFilesystem !== true ? 'the root filesystem must be read-only' : undefined),
  'disallow-capabilities': (c) => (arr(obj(obj(c.securityContext).capabilities).add).some((x) => x !== 'NET_BIND_SERVICE') ? 'only NET_BIND_SERVICE may be added' : undefined),
  'disallow-host-path': (_c, _k, pod) => (arr(pod.volumes).some((v) => 'hostPath' in obj(v)) ? 'hostPath volumes are forbidden' : undefined),
};

export const BEST_PRACTICE_POLICIES: readonly string[] = [...Object.keys(RULES), 'require-labels'];

/** Evaluates every rule on every pod template (and `require-labels` on every object). */
export function evaluateBestPractices(objects: readonly K8sObject[]): PolicyViolation[] {
  const out: PolicyViolation[] = [];
  for (const o of objects) {
    const name = `${o.kind}/${o.metadata.name}`;
    if (!o.metadata.labels?.['app.kubernetes.io/name']) out.push({ policy: 'require-labels', object: name, message: 'the label `app.kubernetes.io/name` is required' });
    const pod = podSpecOf(o);
    if (!pod) continue;
    const podRuleDone = new Set<string>();
    for (const kind of ['containers', 'initContainers'] as const) {
      for (const c of arr(pod.spec[kind]).map(obj)) {
        for (const [policy, rule] of Object.entries(RULES)) {
          if (podRuleDone.has(policy)) continue;
          const message = rule(c, kind, pod.spec);
          if (message === undefined) continue;
          if (policy === 'disallow-host-path') {
            podRuleDone.add(policy);
            out.push({ policy, object: name, message });
          } else out.push({ policy, object: name, container: String(c.name), message });
        }
      }
    }
  }
  return out;
}
