// The Kubernetes target: renders the contract to standard cluster resources (validated against
// their published schemas), writes a Kustomize/GitOps layout, and applies with server-side apply.
export type { K8sObject, RenderWarning, MeshKind, ServiceImage, Json, JsonObject } from './types.js';
export { renderKubernetes, renderObjects, RENDERERS, APP_RENDERERS, KIND_ORDER, type RenderOptions, type RenderResult } from './render.js';
export { validateObjects, SchemaValidationError, VALIDATED_KINDS, type SchemaProblem } from './validate.js';
export { toYaml, toYamlStream, canonicalOrder } from './yaml.js';
export { dockerfile, serviceImage, sourceHash } from './images.js';
export { detectRuntime, dockerfileBody, BASE_IMAGES, DOCKERIGNORE, IGNORED, RENDER_MARKER, type Runtime } from './dockerfile.js';
export { resolveOptions, OptionError, DEFAULT_OPTIONS, OPTION_KEYS, PROBE_PROFILES, SECRET_MODES, type KubernetesOptions, type ProbeProfile, type SecretMode } from './options.js';
export { RUN_AS_USER, DEFAULT_CPU_REQUEST_MILLIS, DEFAULT_MEMORY_MIB } from './security.js';
export { pruneSelector, MANAGED_BY, FIELD_MANAGER } from './labels.js';
export { kustomizeLayout, objectFileName, PLACEHOLDER_REPO, type Layout, type LayoutOptions } from './layout.js';
export { diffJson, applyPatch, type PatchOp } from './json-patch.js';
export { ApplyError } from './apply-error.js';
export type { ApplyOptions, ApplyReport, ObjectRef } from './apply.js';
export { diffLive, lineDiff, type ObjectDiff } from './live-diff.js';

/** Applies to a cluster (see apply.ts); @kubernetes/client-node is loaded only when this runs. */
export async function applyObjects(opts: import('./apply.js').ApplyOptions): Promise<import('./apply.js').ApplyReport> {
  return (await import('./apply.js')).applyObjects(opts);
}
export { checkRestricted, checkPodSpec, podSpecOf, type PodSecurityProblem } from './pod-security.js';
export { evaluateBestPractices, imageTag, BEST_PRACTICE_POLICIES, type PolicyViolation } from './best-practices.js';
