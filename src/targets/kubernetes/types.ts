// Shared types of the Kubernetes target: a manifest object, a render warning, and what every
// renderer module receives (the loaded contract plus derived facts like revisions and images).
import type { AppSpec, ServiceSpec } from '../../contract/index.js';
import type { KubernetesOptions } from './options.js';

/** A JSON value, as found in a manifest. */
export type Json = string | number | boolean | null | Json[] | { [key: string]: Json };
export type JsonObject = { [key: string]: Json };

/** One Kubernetes object: apiVersion, kind, metadata, and the rest of its body. */
export interface K8sObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string>; annotations?: Record<string, string> };
  [field: string]: Json | K8sObject['metadata'] | undefined;
}

/** Something the cluster rendering cannot say exactly as the spec (or the local runtime) means it. */
export interface RenderWarning {
  /** Dotted path in the spec, e.g. `services.web.probes.startup.periodSeconds`. */
  path: string;
  message: string;
}

export type MeshKind = 'istio' | 'gateway-api';

/** The image a service runs, and whether Berth has to tell the user to build it. */
export interface ServiceImage {
  service: string;
  image: string;
  /** Set when the spec has no `image:`: the image must be built from `context` (the service's cwd). */
  build?: {
    context: string;
    argv: string[];
    /** The Dockerfile's instructions (detected runtime, dependencies, non-root user); its text feeds the tag. */
    dockerfile: string[];
  };
}

/** What every renderer module gets for one service. */
export interface ServiceContext {
  app: AppSpec;
  /** The service's name (its Service, its DNS name). */
  name: string;
  /** Directory of the spec file (component files resolve against it). */
  dir: string;
  /** The variant this context renders: `default` for the service's own instances. */
  variant: string;
  /** The Deployment's name: the service's, or `<service>.<variant>`. */
  deployment: string;
  /** Where this unit sits in the spec, for warnings: `services.web` or `services.web.variants.v2`. */
  path: string;
  /** The service's spec, or the variant's (the service's with the variant's fields merged on). */
  spec: ServiceSpec;
  /** Stable, location-independent hash of the service's spec (and env file): app.kubernetes.io/version. */
  revision: string;
  image: ServiceImage;
  /** Labels on every object of the service (includes the selector labels). */
  labels: Record<string, string>;
  /** The labels a Service / PDB selects all the service's pods with, every variant included (immutable: no version). */
  selector: Record<string, string>;
  /** The labels this Deployment selects its own pods with: `selector` plus the variant. */
  podSelector: Record<string, string>;
  /** Variables read from `envFile` (already parsed), or undefined when the spec has none. */
  envFileVars?: Record<string, string>;
  mesh: MeshKind;
  /** Render options (spec `kubernetes:` block, then `--set`). */
  options: KubernetesOptions;
  /** What other renderers add to the pod (filled in before the workload is rendered). */
  pod: PodContribution[];
  warn(path: string, message: string): void;
}

/** Fields a renderer adds to a service's pod: scheduling fields, extra sidecars, volumes. */
export interface PodContribution {
  /** Pod spec fields (nodeSelector, affinity, topologySpreadConstraints…), merged key by key. */
  spec?: JsonObject;
  /** Native sidecar containers (init containers with restartPolicy: Always), started before the app. */
  sidecars?: JsonObject[];
  volumes?: JsonObject[];
  /** Mounts added to the app container. */
  appVolumeMounts?: JsonObject[];
  /** Mounts added to each of the service's own sidecars (not to platform sidecars). */
  sidecarVolumeMounts?: JsonObject[];
  /** Variables added to the app container (e.g. secretKeyRef entries). */
  appEnv?: JsonObject[];
  /** Annotations on the pod template (e.g. dapr.io/*, read by Dapr's sidecar injector). */
  annotations?: Record<string, string>;
}

/** A renderer for one resource family: the service fields it covers, and the objects it makes. */
export interface ServiceRenderer {
  /** Family name, for messages. */
  family: string;
  /** `deployment`: runs for the service and for each of its variants; `service`: once per service. */
  scope: 'deployment' | 'service';
  /** Top-level service fields this renderer turns into cluster objects (coverage check). */
  handles: readonly string[];
  /** Objects of this family. */
  render?(ctx: ServiceContext): K8sObject[];
  /** What this family adds to the service's pod. */
  pod?(ctx: Omit<ServiceContext, 'pod'>): PodContribution | undefined;
}

/** What app-level renderers get: the whole spec and the service contexts already built. */
export interface AppContext {
  app: AppSpec;
  /** Directory of the spec file (secret files resolve against it). */
  dir: string;
  mesh: MeshKind;
  /** Gateway API GatewayClass the ingress Gateway uses. */
  gatewayClass: string;
  /** Render options (spec `kubernetes:` block, then `--set`). */
  options: KubernetesOptions;
  services: ReadonlyMap<string, ServiceContext>;
  /** The environment overlay the spec was loaded with (policies scoped to environments are rendered for it only). */
  env?: string;
  warn(path: string, message: string): void;
}

/** A renderer for app-level fields (e.g. `ingress`). */
export interface AppRenderer {
  family: string;
  /** Top-level spec fields it handles (coverage check). */
  handles: readonly string[];
  render(ctx: AppContext): K8sObject[];
}
