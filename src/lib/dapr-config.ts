// The building-block API's wire shapes: what the plan compiles from the spec's components and
// what berth-proxy reads back from BERTH_DAPR (JSON). They live here, not in src/contract, because
// the proxy is a separate program that may not import the contract (DESIGN.md "may import").

/** Where a component or subscription was declared: a file position, or the spec itself. */
export interface DeclaredAt {
  file: string;
  line: number;
  col: number;
}

/** A component, normalized: plain metadata values as strings, secret references kept apart. */
export interface ComponentDecl {
  name: string;
  type: string;
  version: string;
  metadata: Record<string, string>;
  /** Metadata values to read from a secret (`auth.secretStore`, else the spec's `secrets:`). */
  secretKeyRefs: Record<string, { name: string; key: string }>;
  /** App IDs allowed to use it; empty: every app. */
  scopes: string[];
  secretStore?: string;
  ignoreErrors: boolean;
  initTimeout?: string;
  /** Absent for the embedded defaults Berth adds. */
  declaredAt?: DeclaredAt;
}

/** A declarative subscription, normalized to Dapr's v2alpha1 shape. */
export interface SubscriptionDecl {
  name: string;
  pubsubname: string;
  topic: string;
  routes: { rules: { match: string; path: string }[]; default?: string };
  deadLetterTopic?: string;
  bulkSubscribe?: { enabled: boolean; maxMessagesCount?: number; maxAwaitDurationMs?: number };
  metadata: Record<string, string>;
  scopes: string[];
  declaredAt: DeclaredAt;
}

/** What one service's sidecar serves through the Dapr-compatible API. */
export interface DaprServiceDecl {
  appId: string;
  apiToken: boolean;
  maxRequestBodyMiB: number;
  components: ComponentDecl[];
  subscriptions: SubscriptionDecl[];
}

/** What berth-proxy reads from BERTH_DAPR. */
export interface DaprProxyConfig extends DaprServiceDecl {
  /** App ID → service name, for service invocation through the mesh. */
  apps: Record<string, string>;
  /** The spec's directory: relative paths in component metadata resolve against it. */
  baseDir: string;
}
