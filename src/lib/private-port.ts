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
