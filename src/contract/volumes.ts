// Rules between a service's `volumes:` and the rest of it: names and paths unique within the
// service, no volume over the /tmp scratch mount, and — as a Kubernetes user would expect — no
// ReadWriteOnce volume shared by several instances (on a cluster a second pod on another node
// would hang in ContainerCreating with a Multi-Attach error).
import type { PathSeg } from './positions.js';
import type { Problem } from './problem.js';
import { isPlainObject } from './shape.js';

/** Where every container gets its writable scratch emptyDir on the cluster (the root filesystem is read-only). */
const SCRATCH_PATH = '/tmp';

/** The most instances a service (its variants included) may run at once. */
function mostInstances(svc: Record<string, unknown>): number {
  const own = (s: Record<string, unknown>, fallback: number) => {
    const replicas = typeof s.replicas === 'number' ? s.replicas : fallback;
    const max = isPlainObject(s.scale) && typeof s.scale.max === 'number' ? s.scale.max : 0;
    return Math.max(replicas, max);
  };
  let total = own(svc, 1);
  if (isPlainObject(svc.variants)) for (const v of Object.values(svc.variants)) if (isPlainObject(v)) total += own({ ...v, scale: v.scale ?? svc.scale }, 1);
  return total;
}

export function checkVolumes(services: Record<string, unknown>, errors: Problem[]): void {
  for (const [name, svc] of Object.entries(services)) {
    if (!isPlainObject(svc) || !Array.isArray(svc.volumes)) continue;
    const names = new Set<string>();
    const paths = new Map<string, string>();
    const instances = mostInstances(svc);
    svc.volumes.forEach((v: unknown, i: number) => {
      if (!isPlainObject(v)) return;
      const base: PathSeg[] = ['services', name, 'volumes', i];
      if (typeof v.name === 'string') {
        if (names.has(v.name)) errors.push({ path: [...base, 'name'], message: `duplicate volume name \`${v.name}\``, hint: 'volume names must be unique within a service' });
        names.add(v.name);
      }
      if (typeof v.path === 'string') {
        const first = paths.get(v.path);
        if (first !== undefined) errors.push({ path: [...base, 'path'], message: `volume \`${first}\` is already mounted at ${v.path}`, hint: 'give each volume its own path' });
        else if (v.path === SCRATCH_PATH) errors.push({ path: [...base, 'path'], message: `${SCRATCH_PATH} is the scratch space every container gets on the cluster`, hint: 'choose another path, e.g. /var/lib/app' });
        else paths.set(v.path, typeof v.name === 'string' ? v.name : String(i));
      }
      if (v.perInstance === true) {
        errors.push({
          path: [...base, 'perInstance'],
          message: 'per-instance volumes are not supported yet: each instance would need a stable identity (a StatefulSet ordinal), which Berth does not give instances',
          hint: 'use one shared volume (accessMode: ReadWriteMany when several instances write to it), or replicas: 1',
        });
        return;
      }
      const mode = v.accessMode ?? 'ReadWriteOnce';
      if (mode === 'ReadWriteOnce' && instances > 1) {
        errors.push({
          path: v.accessMode !== undefined ? [...base, 'accessMode'] : base,
          message: `\`${name}\` runs up to ${instances} instances, but a ReadWriteOnce volume is mounted by one node only: on a cluster, pods on other nodes would hang with a Multi-Attach error`,
          hint: 'use accessMode: ReadWriteMany (the storage class must support it), or run one instance',
        });
      }
    });
  }
}
