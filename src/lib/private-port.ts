// An instance's private PORT in its process environments. The node agent allocates the number (see
// src/node/app-ports.ts) and runs the instance with it; the control plane applies the same step to
// the spec it hands `berth exec`, from the port the agent reports, so both see the same environment.
import type { InstanceSpec, ProcessTemplate } from './agent-protocol.js';

/**
 * `$(PORT)` in any value becomes `port` (Kubernetes' dependent-variable syntax); the app also gets
 * `PORT`, and `APP_PORT` unless its spec sets one (what `dapr run` gives an app: the Dapr SDKs'
 * servers, e.g. the JS SDK's DaprServer, listen there by default).
 */
export function withPrivatePort(template: ProcessTemplate, port: number, isApp: boolean): ProcessTemplate {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(template.env)) env[k] = v.includes('$(PORT)') ? v.replaceAll('$(PORT)', String(port)) : v;
  if (isApp) {
    env.PORT = String(port);
    env.APP_PORT ??= String(port);
  }
  return { ...template, env };
}

/** The whole instance spec with its private port filled in (app and sidecars). */
export function specWithPrivatePort(spec: InstanceSpec, port: number): InstanceSpec {
  return { ...spec, main: withPrivatePort(spec.main, port, true), sidecars: spec.sidecars.map((s) => withPrivatePort(s, port, false)) };
}

/** Placeholder for the instance's own building-block API port (the Dapr-compatible API in its proxy). */
export const DAPR_PORT_VAR = '$(DAPR_HTTP_PORT)';

/** Whether an instance serves the building-block API: its proxy was given the placeholder. */
export function needsDaprPort(spec: InstanceSpec): boolean {
  return spec.sidecars.some((s) => Object.values(s.env).some((v) => v.includes(DAPR_PORT_VAR)));
}

/**
 * `$(DAPR_HTTP_PORT)` in every process environment becomes `port`: like PORT, unique on the machine,
 * so an app calling 127.0.0.1:DAPR_HTTP_PORT (as Dapr's samples do) reaches its own instance's proxy.
 */
export function specWithDaprPort(spec: InstanceSpec, port: number): InstanceSpec {
  const fill = (t: ProcessTemplate): ProcessTemplate => {
    const env: Record<string, string> = {};
    for (const [k, v] of Object.entries(t.env)) env[k] = v.includes(DAPR_PORT_VAR) ? v.replaceAll(DAPR_PORT_VAR, String(port)) : v;
    return { ...t, env };
  };
  return { ...spec, main: fill(spec.main), sidecars: spec.sidecars.map(fill) };
}
