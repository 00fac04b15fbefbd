// A service's `volumes:` — persistent storage, as docker compose and Kubernetes users expect it.
// Locally each volume is a directory under `.berth/volumes/` that outlives restarts and `berth
// down`; on a cluster it is a PersistentVolumeClaim mounted at `path`. The app finds it in
// BERTH_VOLUME_<NAME> in both places (locally the directory, on the cluster the mount path), since
// a local process cannot be given a directory at an absolute path of its own.
// Rules between volumes and the rest of the service (unique names and paths, replicas sharing a
// ReadWriteOnce volume) are in volumes.ts.
import { z } from 'zod';
import { envVarName } from './command.js';
import { Label } from './label.js';

export const ACCESS_MODES = ['ReadWriteOnce', 'ReadWriteMany'] as const;

/** Largest volume size accepted, in MiB (64 TiB): far above any disk, still exact as a number. */
export const MAX_VOLUME_MIB = 64 * 1024 * 1024;

/** An absolute path with no `.`/`..` segments, no trailing `/`, no `:` (Kubernetes refuses it in mountPath). */
const MOUNT_PATH_RE = /^(\/(?!\.\.?(\/|$))[^/\0:]+)+$/;

export const Volume = z
  .strictObject({
    name: Label.describe('Volume name, unique within the service (a DNS-1123 label); the app finds the volume in BERTH_VOLUME_<NAME>.'),
    path: z
      .string()
      .regex(MOUNT_PATH_RE, { message: 'must be an absolute path like /var/lib/app (no `..`, no trailing `/`, no `:`)' })
      .describe('Where the volume is mounted on the cluster (container volumeMounts[].mountPath); locally BERTH_VOLUME_<NAME> names its directory instead.'),
    sizeMiB: z
      .number()
      .int({ message: 'must be a whole number of MiB' })
      .min(1, { message: 'must be at least 1 MiB' })
      .max(MAX_VOLUME_MIB, { message: `must be at most ${MAX_VOLUME_MIB} MiB (64 TiB)` })
      .describe('Size in MiB (PersistentVolumeClaim resources.requests.storage, in Mi). Not enforced locally.'),
    accessMode: z
      .enum(ACCESS_MODES)
      .default('ReadWriteOnce')
      .describe('ReadWriteOnce (one node mounts it; default) or ReadWriteMany (every replica, on any node) — PersistentVolumeClaim accessModes.'),
    perInstance: z
      .boolean()
      .default(false)
      .describe('Each instance its own volume (a StatefulSet volumeClaimTemplate). Not supported yet: only false is accepted.'),
  })
  .describe('A persistent volume: a PersistentVolumeClaim on the cluster, a directory under .berth/volumes/ locally; kept across restarts and `berth down`.');

export const Volumes = z.array(Volume).optional().describe('Persistent volumes of the service (docker compose volumes, Kubernetes PersistentVolumeClaims).');

export type VolumeSpec = z.output<typeof Volume>;

/** The variable an instance finds a volume in: BERTH_VOLUME_<NAME> (upper-cased, `-` → `_`). */
export function volumeEnv(name: string): string {
  return `BERTH_VOLUME_${envVarName(name)}`;
}
