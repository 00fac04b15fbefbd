// The contract: Berth's declarative spec (berth.yaml / berth.config.ts) — its types, schema,
// loading with file:line:col errors, environment overlays and the published JSON Schema.
import type { AppSpecInput } from './schema.js';

export {
  AppSchema,
  Service as ServiceSchema,
  Sidecar as SidecarSchema,
  ReadinessProbe as ProbeSchema,
  type AppSpec,
  type AppSpecInput,
  type ServiceSpec,
  type ServiceSpecInput,
  type ProbeSpec,
  type SidecarSpec,
  type RestartSpec,
  type RolloutSpec,
  type HttpProbeSpec,
  type TcpProbeSpec,
  type ExecProbeSpec,
  type GrpcProbeSpec,
  type DependencyCondition,
  type RestartPolicy,
  DNS_LABEL_RE,
} from './schema.js';
export { jsonSchema, SCHEMA_ID } from './json-schema.js';
export { type ScaleSpec, type ScaleMetricSpec } from './schema-scale.js';
export {
  RELEASE_STRATEGIES,
  durationMs,
  ReplayProvider,
  type ReleaseSpec,
  type CanarySpec,
  type CanaryStepSpec,
  type BlueGreenSpec,
  type AnalysisTemplateSpec,
  type AnalysisMetricSpec,
  type MetricProviderSpec,
  type ReleaseStrategy,
} from './schema-release.js';
export { variantSpec, variantDeploymentName } from './variants.js';
export { resolveNodes, MAX_NODES, ANTI_AFFINITY, type NodesSpec, type NodeSpec, type PlacementSpec } from './schema-nodes.js';
export { type SpecError, type FormatOptions, formatSpecErrors, didYouMean } from './errors.js';
export { type LoadResult, type LoadOptions, loadSpec, validateSpecText, findSpecFile, SPEC_FILE_NAMES } from './load.js';
export { splitCommand, trySplitCommand, CommandSplitError, type SplitResult, envVarName } from './command.js';
export { mergeOverlay } from './overlay.js';
export { readSecret, secretFileEnv } from './secrets.js';
export type { SecretSourceSpec, SecretUseSpec } from './schema-secrets.js';
export { readComponentResources, componentsFolder, resolveSpecSecrets, type ComponentDecl, type SubscriptionDecl, type ComponentResources, type DeclaredAt } from './components.js';
export { resolveDaprServices, defaultComponents, type DaprServiceDecl } from './dapr-services.js';
export { COMPONENT_TYPES, DEFAULT_STATE_STORE, DEFAULT_PUBSUB, DEFAULT_MAX_REQUEST_BODY_MIB, type DaprSpec, type InlineComponentSpec } from './schema-components.js';
export { volumeEnv, ACCESS_MODES, type VolumeSpec } from './schema-volumes.js';

/** Identity, for typing `export default defineApp({ … })` in berth.config.ts. Defaults may be left out. */
export function defineApp(spec: AppSpecInput): AppSpecInput {
  return spec;
}
export {
  type PolicySpec,
  type PolicyRuleSpec,
  type PolicyMatchSpec,
  type DenyConditionSpec,
  type DenyOperator,
  type PolicyAction,
  PolicySchema,
  POLICY_ACTIONS,
  DENY_OPERATORS,
} from './schema-policy.js';
export { matchPattern, matchScalar, matchStringPattern, wildcardMatch, parseKey, type PatternOutcome, type PatternMismatch } from './policy-pattern.js';
export { conditionHolds, keyPath, type DenySubject } from './policy-deny.js';
export { evaluatePolicies, formatViolation, selects, type PolicyResult, type PolicyResultKind, type PolicyEvaluation, type EvaluateOptions } from './policy-eval.js';
export { checkPolicies, policyFiles, readPolicyFile, type PolicyCheck, type PolicyCheckInput, type LoadedPolicy } from './policy-files.js';
export { policyReport, POLICY_RESULT_KINDS, type PolicyReport } from './policy-report.js';
export type { Locator, Position, PathSeg } from './positions.js';
export { GitopsSource, GitopsSources, type GitopsSourceSpec } from './schema-gitops.js';
