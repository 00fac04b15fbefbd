// The spec's `kubernetes:` block: render options for the Kubernetes target (namespace, registry,
// Gateway class, storage class, Prometheus address, probe profile, secret delivery, default
// resources). `berth render --set key=value` overrides each; defaults are in docs/kubernetes.md.
import { z } from 'zod';

const PositiveInt = z.number().int({ message: 'must be a whole number' }).positive({ message: 'must be greater than 0' });

export const KubernetesBlock = z
  .strictObject({
    namespace: z.string().describe('Namespace written on every object (default: none, the namespace of the apply).').optional(),
    registry: z.string().describe('Registry prefix of the built images, e.g. registry.example.com/team (default: none).').optional(),
    gatewayClass: z.string().describe('GatewayClass of the ingress Gateway (default: istio).').optional(),
    storageClass: z.string().describe("StorageClass of rendered PersistentVolumeClaims (default: the cluster's default class).").optional(),
    prometheusUrl: z.string().url().describe('Prometheus address KEDA queries for request-metric scaling (default: http://prometheus.istio-system.svc:9090).').optional(),
    probeProfile: z.enum(['cluster', 'local']).describe('cluster: whole-second probes with the same failure budget (default); local: each value rounded up.').optional(),
    secrets: z.enum(['kubernetes', 'external-secrets']).describe('Secrets as Secret objects (default) or ExternalSecret references.').optional(),
    secretStore: z.string().describe('The (Cluster)SecretStore ExternalSecrets read from (default: default).').optional(),
    secretStoreKind: z.enum(['SecretStore', 'ClusterSecretStore']).describe('Kind of that store (default: ClusterSecretStore).').optional(),
    defaultCpuMillis: PositiveInt.describe('CPU request of a service without resources.cpuMillis (default: 100).').optional(),
    defaultMemoryMiB: PositiveInt.describe('Memory request and limit of a service without resources.memoryMiB (default: 256).').optional(),
  })
  .describe('Kubernetes render options (see docs/kubernetes.md); `--set key=value` overrides each.');
