// Cross-field rules of the mesh fields: ingress routes name services that have a port, and the
// ingress port is not a service's port (the gateway serves both on 127.0.0.1).
import type { Problem } from './problem.js';
import { isPlainObject } from './shape.js';
import { checkVariants } from './variants.js';

export function checkMesh(data: Record<string, unknown>, services: Record<string, unknown>, errors: Problem[], warnings: Problem[] = []): void {
  checkVariants(services, errors);
  checkMixedVariants(services, warnings);
  checkGrpcRoutes(services, warnings);
  const ingress = data.ingress;
  if (!isPlainObject(ingress)) return checkServiceRoutes(services, errors);
  const portOf = (name: string): unknown => (isPlainObject(services[name]) ? (services[name] as Record<string, unknown>).port : undefined);
  if (typeof ingress.port === 'number') {
    for (const name of Object.keys(services)) {
      if (portOf(name) === ingress.port) errors.push({ path: ['ingress', 'port'], message: `port ${ingress.port} is already service \`${name}\`'s port`, hint: 'the gateway serves both on 127.0.0.1: choose another ingress port' });
    }
  }
  checkServiceRoutes(services, errors);
  if (!Array.isArray(ingress.routes)) return;
  ingress.routes.forEach((r: unknown, i: number) => {
    if (!isPlainObject(r) || typeof r.to !== 'string') return;
    if (!isPlainObject(services[r.to])) errors.push({ path: ['ingress', 'routes', i, 'to'], message: `unknown service \`${r.to}\``, hint: `known services: ${Object.keys(services).join(', ')}` });
    else if (portOf(r.to) === undefined) errors.push({ path: ['ingress', 'routes', i, 'to'], message: `service \`${r.to}\` has no port, so the ingress cannot send to it`, hint: `give \`${r.to}\` a \`port\`` });
  });
}

/** Every destination and mirror of a service's routes names a service with a port. */
function checkServiceRoutes(services: Record<string, unknown>, errors: Problem[]): void {
  const check = (target: unknown, path: (string | number)[]): void => {
    if (typeof target !== 'string') return;
    const svc = services[target];
    if (!isPlainObject(svc)) errors.push({ path, message: `unknown service \`${target}\``, hint: `known services: ${Object.keys(services).join(', ')}` });
    else if (svc.port === undefined) errors.push({ path, message: `service \`${target}\` has no port, so routes cannot send to it`, hint: `give \`${target}\` a \`port\`` });
  };
  for (const [name, svc] of Object.entries(services)) {
    if (!isPlainObject(svc) || !Array.isArray(svc.routes)) continue;
    svc.routes.forEach((r: unknown, i: number) => {
      if (!isPlainObject(r)) return;
      const base = ['services', name, 'routes', i];
      if (typeof r.to === 'string') check(r.to, [...base, 'to']);
      else if (Array.isArray(r.to)) r.to.forEach((d: unknown, j: number) => isPlainObject(d) && check(d.service, [...base, 'to', j, 'service']));
      if (isPlainObject(r.mirror)) check(r.mirror.service, [...base, 'mirror', 'service']);
    });
  }
}

/**
 * A weighted route that names a service both without a variant and with one: the variant-less
 * share goes to every instance of the service, that variant's included (Istio's meaning of a host
 * without a subset), which is rarely what `90/10` was meant to say. `variant: default` names the
 * service's own instances only.
 */
function checkMixedVariants(services: Record<string, unknown>, warnings: Problem[]): void {
  for (const [name, svc] of Object.entries(services)) {
    if (!isPlainObject(svc) || !Array.isArray(svc.routes)) continue;
    svc.routes.forEach((r: unknown, i: number) => {
      if (!isPlainObject(r) || !Array.isArray(r.to)) return;
      const dests = r.to.filter(isPlainObject);
      r.to.forEach((d: unknown, j: number) => {
        if (!isPlainObject(d) || d.variant !== undefined || typeof d.service !== 'string') return;
        const variants = dests.filter((o) => o.service === d.service && typeof o.variant === 'string' && o.variant !== 'default').map((o) => String(o.variant));
        if (variants.length === 0) return;
        warnings.push({
          path: ['services', name, 'routes', i, 'to', j],
          message: `this destination has no \`variant\`, so its share goes to every instance of \`${d.service}\`, variant ${variants.map((v) => `\`${v}\``).join(', ')} included`,
          hint: `add \`variant: default\` to send this share only to \`${d.service}\`'s own instances`,
        });
      });
    });
  }
}

/**
 * Route fields that do not do on a gRPC service what an Istio user expects: `retries` without
 * `nonIdempotent` (every gRPC call is a POST, which Berth retries only when asked; Istio retries any
 * method).
 */
function checkGrpcRoutes(services: Record<string, unknown>, warnings: Problem[]): void {
  for (const [name, svc] of Object.entries(services)) {
    if (!isPlainObject(svc) || svc.protocol !== 'grpc' || !Array.isArray(svc.routes)) continue;
    svc.routes.forEach((r: unknown, i: number) => {
      if (!isPlainObject(r)) return;
      const base = ['services', name, 'routes', i];
      if (isPlainObject(r.retries) && r.retries.nonIdempotent !== true && (r.retries.attempts === undefined || (typeof r.retries.attempts === 'number' && r.retries.attempts > 0))) {
        warnings.push({
          path: [...base, 'retries'],
          mode: 'key',
          message: 'gRPC calls are POSTs: these retries apply to none of them without `nonIdempotent: true` (only calls that reached no app are sent again)',
          hint: 'add `nonIdempotent: true` if the methods are safe to repeat',
        });
      }
    });
  }
}
