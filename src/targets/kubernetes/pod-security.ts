// The Pod Security Standards check: every pod template in the rendered objects against the
// "baseline" and "restricted" rules of https://kubernetes.io/docs/concepts/security/pod-security-standards/
// (as the API server's PodSecurity admission applies them at `enforce: restricted`). Pure; used by
// the tests on every example and fixture, so a renderer change that would be refused is caught.
import type { Json, JsonObject, K8sObject } from './types.js';

export interface PodSecurityProblem {
  /** `Deployment/web` */
  object: string;
  /** Field path inside the object, e.g. `spec.template.spec.containers[app].securityContext.runAsNonRoot`. */
  field: string;
  rule: string;
}

const RESTRICTED_VOLUMES = new Set(['configMap', 'csi', 'downwardAPI', 'emptyDir', 'ephemeral', 'persistentVolumeClaim', 'projected', 'secret']);
const SAFE_SYSCTLS = new Set(['kernel.shm_rmid_forced', 'net.ipv4.ip_local_port_range', 'net.ipv4.ip_unprivileged_port_start', 'net.ipv4.tcp_syncookies', 'net.ipv4.ping_group_range', 'net.ipv4.ip_local_reserved_ports', 'net.ipv4.tcp_keepalive_time', 'net.ipv4.tcp_fin_timeout', 'net.ipv4.tcp_keepalive_intvl', 'net.ipv4.tcp_keepalive_probes']);

const obj = (v: Json | undefined): JsonObject => (v && typeof v === 'object' && !Array.isArray(v) ? v : {});
const arr = (v: Json | undefined): Json[] => (Array.isArray(v) ? v : []);

/** The pod spec inside a workload object (Deployment, StatefulSet, Job, Rollout…, or a Pod), if any. */
export function podSpecOf(o: K8sObject): { spec: JsonObject; path: string } | undefined {
  if (o.kind === 'Pod') return { spec: obj(o.spec as Json), path: 'spec' };
  const spec = obj(o.spec as Json);
  if (o.kind === 'CronJob') {
    const inner = obj(obj(obj(obj(spec.jobTemplate).spec).template).spec);
    return Object.keys(inner).length ? { spec: inner, path: 'spec.jobTemplate.spec.template.spec' } : undefined;
  }
  const template = obj(spec.template);
  return 'spec' in template ? { spec: obj(template.spec), path: 'spec.template.spec' } : undefined;
}

/** Problems of one pod spec under the restricted profile (which includes baseline). */
export function checkPodSpec(name: string, pod: JsonObject, base: string): PodSecurityProblem[] {
  const out: PodSecurityProblem[] = [];
  const bad = (field: string, rule: string) => out.push({ object: name, field: `${base}.${field}`, rule });
  const podSc = obj(pod.securityContext);
  for (const f of ['hostNetwork', 'hostPID', 'hostIPC'] as const) if (pod[f] === true) bad(f, 'host namespaces must not be shared');
  for (const v of arr(pod.volumes)) {
    const vol = obj(v);
    const types = Object.keys(vol).filter((k) => k !== 'name');
    for (const t of types) if (!RESTRICTED_VOLUMES.has(t)) bad(`volumes[${String(vol.name)}].${t}`, `volume type ${t} is not allowed (restricted allows ${[...RESTRICTED_VOLUMES].join(', ')})`);
  }
  for (const s of arr(podSc.sysctls)) if (!SAFE_SYSCTLS.has(String(obj(s).name))) bad('securityContext.sysctls', `sysctl ${String(obj(s).name)} is not in the safe set`);
  const podSeccomp = obj(podSc.seccompProfile).type;
  if (podSeccomp !== undefined && podSeccomp !== 'RuntimeDefault' && podSeccomp !== 'Localhost') bad('securityContext.seccompProfile.type', 'must be RuntimeDefault or Localhost');
  if (podSc.runAsUser === 0) bad('securityContext.runAsUser', 'must not be 0 (root)');
  const containers = [
    ...arr(pod.containers).map((c) => ['containers', obj(c)] as const),
    ...arr(pod.initContainers).map((c) => ['initContainers', obj(c)] as const),
    ...arr(pod.ephemeralContainers).map((c) => ['ephemeralContainers', obj(c)] as const),
  ];
  for (const [list, c] of containers) {
    const at = `${list}[${String(c.name)}]`;
    const sc = obj(c.securityContext);
    if (sc.privileged === true) bad(`${at}.securityContext.privileged`, 'privileged containers are not allowed');
    for (const p of arr(c.ports)) if (obj(p).hostPort !== undefined && obj(p).hostPort !== 0) bad(`${at}.ports.hostPort`, 'host ports are not allowed');
    if (sc.procMount !== undefined && sc.procMount !== 'Default') bad(`${at}.securityContext.procMount`, 'must be Default');
    if (sc.allowPrivilegeEscalation !== false) bad(`${at}.securityContext.allowPrivilegeEscalation`, 'must be false');
    const nonRoot = sc.runAsNonRoot ?? podSc.runAsNonRoot;
    if (nonRoot !== true) bad(`${at}.securityContext.runAsNonRoot`, 'must be true (on the container or the pod)');
    if (sc.runAsUser === 0) bad(`${at}.securityContext.runAsUser`, 'must not be 0 (root)');
    const seccomp = obj(sc.seccompProfile).type ?? podSeccomp;
    if (seccomp !== 'RuntimeDefault' && seccomp !== 'Localhost') bad(`${at}.securityContext.seccompProfile.type`, 'must be RuntimeDefault or Localhost (on the container or the pod)');
    const caps = obj(sc.capabilities);
    if (!arr(caps.drop).includes('ALL')) bad(`${at}.securityContext.capabilities.drop`, 'must include ALL');
    // Restricted allows adding only NET_BIND_SERVICE (baseline's list is wider; restricted wins).
    for (const cap of arr(caps.add)) if (cap !== 'NET_BIND_SERVICE') bad(`${at}.securityContext.capabilities.add`, `${String(cap)}: only NET_BIND_SERVICE may be added`);
  }
  return out;
}

/** Every pod template of the objects against the restricted profile. */
export function checkRestricted(objects: readonly K8sObject[]): PodSecurityProblem[] {
  return objects.flatMap((o) => {
    const pod = podSpecOf(o);
    return pod ? checkPodSpec(`${o.kind}/${o.metadata.name}`, pod.spec, pod.path) : [];
  });
}
