// Platform sidecars: processes Berth itself adds to every instance group of a service (the mesh
// proxy, the log agent), next to the user's own `sidecars`. Each kind lives in its own module and
// is wired in the `builders` list below — the one place that says which platform sidecars exist.
import type { AppSpec, DaprServiceDecl, ServiceSpec } from '../contract/index.js';
import type { ProcessTemplate } from '../lib/agent-protocol.js';
import { logsSidecar } from './sidecars/logs.js';
import { proxySidecar } from './sidecars/proxy.js';

export interface SidecarBuildContext {
  app: AppSpec;
  service: string;
  spec: ServiceSpec;
  /** Directory of the spec file. */
  dir: string;
  /** The app's environment as compiled so far (user env, BERTH_*, PORT, service URLs). */
  appEnv: Readonly<Record<string, string>>;
  /** The building-block API its proxy serves; absent when the service does not use it. */
  dapr?: DaprServiceDecl;
}

export interface SidecarContribution {
  /** The sidecar process to run in the instance group (started before the app). */
  sidecar?: ProcessTemplate;
  /** Environment overrides for the app (e.g. a private PORT when a proxy takes the public one). */
  appEnv?: Record<string, string>;
}

export type SidecarBuilder = (ctx: SidecarBuildContext) => SidecarContribution | undefined;

/** Every platform sidecar kind, in start order. */
const builders: SidecarBuilder[] = [proxySidecar, logsSidecar];

export function platformSidecars(ctx: SidecarBuildContext): { sidecars: ProcessTemplate[]; appEnv: Record<string, string> } {
  const sidecars: ProcessTemplate[] = [];
  const appEnv: Record<string, string> = {};
  for (const build of builders) {
    const c = build(ctx);
    if (c?.sidecar) sidecars.push(c.sidecar);
    if (c?.appEnv) Object.assign(appEnv, c.appEnv);
  }
  return { sidecars, appEnv };
}
