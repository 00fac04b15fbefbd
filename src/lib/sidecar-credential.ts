// How a sidecar (mesh proxy, log agent, the gateway) authenticates to the control plane: with a
// credential scoped to its own instance, handed to it in its environment by the control plane (never
// to the app's process). The control plane's API lets it watch and acknowledge its own mesh snapshot,
// ask for activation and send its instance's log batches — nothing else (see control/credentials.ts,
// docs/security.md). The admin token in `.berth/token` is only a fallback for a sidecar started by
// hand without one (tests, debugging), when its user may read that file anyway.
import { readToken } from './files.js';

/** The environment variable holding a sidecar's scoped credential. */
export const SIDECAR_TOKEN_ENV = 'BERTH_SIDECAR_TOKEN';

/** The bearer token a sidecar sends: its scoped credential, else (started by hand) the admin token file's. */
export function sidecarBearer(adminTokenFile: string, env: NodeJS.ProcessEnv = process.env): string | undefined {
  return env[SIDECAR_TOKEN_ENV] || readToken(adminTokenFile);
}
