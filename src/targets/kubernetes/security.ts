// Pod security: what every rendered pod carries so it is admitted under Kubernetes' Pod Security
// Standard "restricted" — a non-root user, no privilege escalation, no capabilities, the runtime's
// seccomp profile, a read-only root filesystem with a writable emptyDir at /tmp, and no service
// account token (nothing Berth renders talks to the API server). Resource requests and limits come
// from the spec, with defaults (stated in docs/kubernetes.md) where the spec leaves them out.
import type { JsonObject, ServiceContext } from './types.js';

/** The user and group the generated images create and the pods run as (not root, not a system id). */
export const RUN_AS_USER = 10001;
/** The writable scratch volume every container gets at /tmp (the root filesystem is read-only). */
export const TMP_VOLUME = 'tmp';
/** CPU request when the spec sets no `resources.cpuMillis` (and the render option `resources.cpuMillis` is not set). */
export const DEFAULT_CPU_REQUEST_MILLIS = 100;
/** Memory request and limit when the spec sets no `resources.memoryMiB`. */
export const DEFAULT_MEMORY_MIB = 256;

/** Pod-level security context. */
export function podSecurityContext(): JsonObject {
  return { runAsNonRoot: true, runAsUser: RUN_AS_USER, runAsGroup: RUN_AS_USER, fsGroup: RUN_AS_USER, seccompProfile: { type: 'RuntimeDefault' } };
}

/** Container-level security context (restricted profile, read-only root filesystem). */
export function containerSecurityContext(): JsonObject {
  return { allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] }, privileged: false, readOnlyRootFilesystem: true, runAsNonRoot: true };
}

export function tmpVolume(): JsonObject {
  return { name: TMP_VOLUME, emptyDir: {} };
}

export function tmpMount(): JsonObject {
  return { name: TMP_VOLUME, mountPath: '/tmp' };
}

export interface ResourceDefaults {
  cpuMillis: number;
  memoryMiB: number;
}

/**
 * The app container's resources: memory limit = request = `resources.memoryMiB`; a CPU request of
 * `resources.cpuMillis` (also its limit, as locally), else the default request and no CPU limit
 * (a CPU limit only throttles). Defaults are warned about, so nobody ships them unknowingly.
 */
export function appResources(ctx: ServiceContext, defaults: ResourceDefaults): JsonObject {
  const r = ctx.spec.resources;
  const memory = `${r.memoryMiB ?? defaults.memoryMiB}Mi`;
  const cpu = `${r.cpuMillis ?? defaults.cpuMillis}m`;
  if (r.memoryMiB === undefined) ctx.warn(`${ctx.path}.resources.memoryMiB`, `not set: the pod requests and is limited to ${memory} of memory on the cluster (unlimited locally); set it to what the service needs`);
  if (r.cpuMillis === undefined) ctx.warn(`${ctx.path}.resources.cpuMillis`, `not set: the pod requests ${cpu} of CPU on the cluster, with no CPU limit`);
  const limits: JsonObject = { memory };
  if (r.cpuMillis !== undefined) limits.cpu = cpu;
  return { limits, requests: { cpu, memory } };
}
