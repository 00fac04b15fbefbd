// DesiredState: what the runtime must make true, compiled from a validated spec. Pure data,
// JSON-serialisable, stored by the control plane and re-read on every reconcile.
import type { AnalysisTemplateSpec, ComponentDecl, DaprServiceDecl, NodeSpec, PlacementSpec, ReleaseSpec, ScaleSpec, SubscriptionDecl } from '../contract/index.js';
import type { ProbeConfig, ProcessTemplate, RestartConfig } from '../lib/agent-protocol.js';
import type { MeshConfig } from '../lib/mesh-protocol.js';

/** Everything an instance of one service revision needs, minus what is per instance (id, node, host). */
export interface InstanceTemplate {
  main: ProcessTemplate;
  sidecars: ProcessTemplate[];
  probes: { startup?: ProbeConfig; readiness?: ProbeConfig; liveness?: ProbeConfig };
  restart: RestartConfig;
  memoryMiB?: number;
  cpuMillis?: number;
  stopGracePeriodSeconds: number;
  port?: number;
  /** Digest of the files the service's `watch:` covers (absent without `watch:`): a saved file makes a new revision. */
  sourceDigest?: string;
}

export interface DesiredService {
  name: string;
  /** Stable hash of the template (and the restart generation): same spec, same revision, across restarts. */
  revision: string;
  replicas: number;
  port?: number;
  uses: string[];
  dependsOn: Record<string, 'started' | 'ready'>;
  rollout: { maxSurge: number | string; maxUnavailable: number | string };
  placement?: PlacementSpec;
  /** Under node pressure, lower-priority instances move first. */
  priority?: number;
  /** Autoscaling; `replicas` is then the starting count. */
  scale?: ScaleSpec;
  /**
   * How a new revision is released (spec `release`, durations in ms); absent: rolling, history of 10.
   * Only on a service's own deployment, never on its variants'. Not part of the revision hash: changing
   * the steps does not restart anything.
   */
  release?: ReleaseSpec;
  template: InstanceTemplate;
  /** The Dapr-compatible API its proxy serves: components and subscriptions in its scope. Absent: the service does not use it. */
  dapr?: DaprServiceDecl;
}

export interface DesiredState {
  app: string;
  /** Absolute path of the spec file the state was compiled from. */
  specFile: string;
  env?: string;
  /** Services in start order (dependencies first). */
  services: DesiredService[];
  /** Ingress and proxy settings (absent in states stored before the mesh existed). */
  mesh?: MeshConfig;
  /** The simulated nodes (default: one, node-1). Absent in states stored before nodes existed. */
  nodes?: NodeSpec[];
  /** Every declared component (inline and from componentsPath), with its scopes; the embedded defaults are per service only. */
  components?: ComponentDecl[];
  /** Every declarative subscription, with its scopes. */
  subscriptions?: SubscriptionDecl[];
  /** Analysis templates by name (spec `analysisTemplates`, durations in ms); absent when none are declared. */
  analysisTemplates?: Record<string, AnalysisTemplateSpec>;
}
