// Persistent volumes on the cluster: a PersistentVolumeClaim per volume of a service (storage class
// from the render option `storageClass`, else none: the cluster's default class), mounted at its
// `path` in the app container and in the service's own sidecars, with BERTH_VOLUME_<NAME> set to
// that path (locally it names a directory under .berth/volumes/). Variants mount their service's
// claims. Claims are never pruned by `berth deploy`: removing a volume from the spec leaves its data.
import { volumeEnv, type VolumeSpec } from '../../contract/index.js';
import { VARIANT_LABEL } from './labels.js';
import type { JsonObject, K8sObject, PodContribution, ServiceContext, ServiceRenderer } from './types.js';

/** Keep GitOps controllers from pruning a claim whose volume left the spec (its data would go with it). */
export const KEEP_CLAIM_ANNOTATIONS: Readonly<Record<string, string>> = {
  'argocd.argoproj.io/sync-options': 'Prune=false',
  'kustomize.toolkit.fluxcd.io/prune': 'disabled',
};

/** The claim of a service's volume: `<service>-<volume>`. */
export function claimName(service: string, volume: string): string {
  return `${service}-${volume}`;
}

/** The pod's name for a volume (pod volume names are DNS-1123 labels; `volume-` keeps them apart from Berth's own). */
function podVolumeName(volume: string): string {
  return `volume-${volume}`.slice(0, 63).replace(/-+$/, '');
}

function volumesOf(ctx: Pick<ServiceContext, 'spec'>): VolumeSpec[] {
  return ctx.spec.volumes ?? [];
}

function pod(ctx: Omit<ServiceContext, 'pod'>): PodContribution | undefined {
  const volumes = volumesOf(ctx);
  if (!volumes.length) return undefined;
  const mounts = volumes.map((v): JsonObject => ({ name: podVolumeName(v.name), mountPath: v.path }));
  return {
    volumes: volumes.map((v): JsonObject => ({ name: podVolumeName(v.name), persistentVolumeClaim: { claimName: claimName(ctx.name, v.name) } })),
    appVolumeMounts: mounts,
    sidecarVolumeMounts: mounts,
    // The app finds its volume as it does locally, where the variable names a directory instead.
    appEnv: volumes.map((v): JsonObject => ({ name: volumeEnv(v.name), value: v.path })),
  };
}

/** Warns where a ReadWriteOnce claim and a surging rollout would deadlock on a multi-node cluster. */
function rolloutWarning(ctx: ServiceContext): void {
  const rwo = volumesOf(ctx).filter((v) => v.accessMode === 'ReadWriteOnce');
  const surge = ctx.spec.rollout.maxSurge;
  if (!rwo.length || surge === 0 || surge === '0%') return;
  ctx.warn(
    `${ctx.path}.rollout.maxSurge`,
    `with the ReadWriteOnce volume \`${rwo[0].name}\`, a new pod started beside the old one (maxSurge ${surge}) cannot attach the volume on another node and the rollout stalls; set rollout: { maxSurge: 0, maxUnavailable: 1 } (replace, like the Recreate strategy) or use accessMode: ReadWriteMany`,
  );
}

function render(ctx: ServiceContext): K8sObject[] {
  rolloutWarning(ctx);
  if (ctx.variant !== 'default') return []; // a variant mounts its service's claims
  // A claim outlives revisions: no version label (and no variant, it is the service's).
  const { 'app.kubernetes.io/version': _version, [VARIANT_LABEL]: _variant, ...labels } = ctx.labels;
  return volumesOf(ctx).map(
    (v): K8sObject => ({
      apiVersion: 'v1',
      kind: 'PersistentVolumeClaim',
      metadata: { name: claimName(ctx.name, v.name), labels, annotations: { ...KEEP_CLAIM_ANNOTATIONS } },
      spec: {
        accessModes: [v.accessMode],
        ...(ctx.options.storageClass !== '' ? { storageClassName: ctx.options.storageClass } : {}),
        resources: { requests: { storage: `${v.sizeMiB}Mi` } },
      },
    }),
  );
}

export const volumesRenderer: ServiceRenderer = { family: 'volumes', scope: 'deployment', handles: ['volumes'], pod, render };
