// Cross-field rules of the mesh fields: ingress routes name services that have a port, and the
// ingress port is not a service's port (the gateway serves both on 127.0.0.1).
import type { Problem } from './problem.js';
import { isPlainObject } from './shape.js';

export function checkMesh(data: Record<string, unknown>, services: Record<string, unknown>, errors: Problem[]): void {
  const ingress = data.ingress;
  if (!isPlainObject(ingress)) return;
  const portOf = (name: string): unknown => (isPlainObject(services[name]) ? (services[name] as Record<string, unknown>).port : undefined);
  if (typeof ingress.port === 'number') {
    for (const name of Object.keys(services)) {
      if (portOf(name) === ingress.port) errors.push({ path: ['ingress', 'port'], message: `port ${ingress.port} is already service \`${name}\`'s port`, hint: 'the gateway serves both on 127.0.0.1: choose another ingress port' });
    }
  }
  if (!Array.isArray(ingress.routes)) return;
  ingress.routes.forEach((r: unknown, i: number) => {
    if (!isPlainObject(r) || typeof r.to !== 'string') return;
    if (!isPlainObject(services[r.to])) errors.push({ path: ['ingress', 'routes', i, 'to'], message: `unknown service \`${r.to}\``, hint: `known services: ${Object.keys(services).join(', ')}` });
    else if (portOf(r.to) === undefined) errors.push({ path: ['ingress', 'routes', i, 'to'], message: `service \`${r.to}\` has no port, so the ingress cannot send to it`, hint: `give \`${r.to}\` a \`port\`` });
  });
}
