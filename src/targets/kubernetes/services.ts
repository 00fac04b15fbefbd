// Service per service with a port (its name is the DNS name the other services' BERTH_<NAME>_URL
// point at), and a PodDisruptionBudget when more than one replica runs.
import type { K8sObject, ServiceContext, ServiceRenderer } from './types.js';

/** The Service port's appProtocol for the spec's `protocol` (Kubernetes' kubernetes.io/h2c; Istio reads grpc). */
export function appProtocolOf(protocol: string | undefined): string {
  return protocol === 'h2c' ? 'kubernetes.io/h2c' : protocol === 'grpc' ? 'grpc' : 'http';
}

function service(ctx: ServiceContext): K8sObject | undefined {
  if (ctx.spec.port === undefined) return undefined;
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name: ctx.name, labels: ctx.labels },
    spec: {
      type: 'ClusterIP',
      selector: ctx.selector,
      ports: [{ name: 'http', port: ctx.spec.port, targetPort: 'http', protocol: 'TCP', appProtocol: appProtocolOf(ctx.spec.protocol) }],
    },
  };
}

/** Voluntary disruptions (node drains, upgrades) take at most one instance at a time, like `berth node drain`. */
function disruptionBudget(ctx: ServiceContext): K8sObject | undefined {
  const max = (ctx.spec as unknown as { scale?: { max?: unknown } }).scale?.max;
  if (ctx.spec.replicas <= 1 && !(typeof max === 'number' && max > 1)) return undefined;
  return {
    apiVersion: 'policy/v1',
    kind: 'PodDisruptionBudget',
    metadata: { name: ctx.name, labels: ctx.labels },
    spec: { maxUnavailable: 1, selector: { matchLabels: ctx.selector } },
  };
}

export const serviceRenderer: ServiceRenderer = {
  family: 'services',
  scope: 'service',
  handles: ['port', 'replicas', 'protocol'],
  render(ctx) {
    return [service(ctx), disruptionBudget(ctx)].filter((o): o is K8sObject => o !== undefined);
  },
};
