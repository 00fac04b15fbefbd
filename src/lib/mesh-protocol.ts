// The wire contract between the control plane (which knows endpoints and routes) and the mesh proxies
// (which route). The control plane streams versioned MeshSnapshots over
//   GET  /api/v1/mesh/watch?proxy=ID  → text/event-stream; `event: snapshot`, `data: MeshSnapshot` on every change;
//        `event: heartbeat`, `data: {"intervalMs": N}` at once and every N ms (a proxy that hears nothing
//        for MESH_IDLE_HEARTBEATS × N ms reconnects, keeping its last snapshot meanwhile)
//   POST /api/v1/mesh/ack {proxy, version}  → 204; a proxy says it now routes with that snapshot
//   GET  /api/v1/mesh/status           → MeshStatus (`berth up --wait` asks it)
//   POST /api/v1/mesh/activate {service, proxy} → 202 MeshActivation; a proxy holds a request for a
//        service scaled to zero and asks for an instance (the snapshot that lists it releases the request)
// Also the fixed port scheme of a proxied instance's own listeners: every instance has its own
// loopback address (HOST), so the same port numbers on every instance never collide. The app itself
// is not among them: it listens on a private, machine-unique PORT (allocated by the node agent).

/** Heartbeat intervals without a byte after which a proxy gives up on its watch stream and reconnects. */
export const MESH_IDLE_HEARTBEATS = 3;

/** The control plane's heartbeat interval on the watch stream unless told otherwise (BERTH_MESH_HEARTBEAT_MS, for tests). */
export const MESH_HEARTBEAT_MS = 5000;

/** An endpoint registered in the mesh: an instance whose readiness passed; traffic goes to its inbound proxy. */
export interface MeshEndpoint {
  id: string;
  host: string;
  port: number;
  variant: string;
}

/** A string condition, compiled from the spec (exactly one field set). */
export interface MeshStringMatch {
  exact?: string;
  prefix?: string;
  regex?: string;
  present?: boolean;
}

export interface MeshHeaderOps {
  set?: Record<string, string>;
  add?: Record<string, string>;
  remove?: string[];
}

/** One route of a service (Istio HTTPRoute meaning); durations in milliseconds. */
export interface MeshRoute {
  name?: string;
  match?: {
    path?: { exact?: string; prefix?: string; regex?: string };
    method?: string | string[];
    headers?: Record<string, MeshStringMatch>;
    query?: Record<string, MeshStringMatch>;
  };
  /** A service name or weighted destinations; absent: the service itself. */
  to?: string | { service: string; variant?: string; weight: number }[];
  timeout?: number;
  retries?: { attempts: number; perTryTimeout?: number; retryOn: ('5xx' | 'gateway-error' | 'connect-failure' | 'reset' | 'cancelled' | 'deadline-exceeded' | 'internal' | 'resource-exhausted' | 'unavailable')[]; nonIdempotent: boolean };
  fault?: { delay?: { percent: number; fixedDelay: number }; abort?: { percent: number; status: number } };
  /** `key`: the shadow diffs of this mirror are counted apart under it (a release's canary revision), so a release reads only its own. */
  mirror?: { service: string; variant?: string; percent: number; key?: string };
  headers?: { request?: MeshHeaderOps; response?: MeshHeaderOps };
  rateLimit?: MeshRateLimit;
  concurrencyLimit?: number;
}

export interface MeshRateLimit {
  requestsPerSecond: number;
  burst?: number;
}

/** Destination policy of a service (Istio DestinationRule trafficPolicy); durations in milliseconds. */
export interface MeshPolicy {
  balancer: 'round_robin' | 'least_request' | 'random' | { consistentHash: { header?: string; cookie?: string } };
  outlierDetection?: { consecutive5xxErrors: number; consecutiveGatewayErrors: number; interval: number; baseEjectionTime: number; maxEjectionPercent: number };
  connectionPool?: { maxConnections?: number; maxPendingRequests?: number; maxRequestsPerConnection?: number };
  rateLimit?: MeshRateLimit;
  concurrencyLimit?: number;
  /** Envoy slow start; window in milliseconds. */
  slowStart?: { window: number; minWeightPercent: number };
  /** Per variant; `overflowTo`: a request over the variant's limits goes to that variant instead of being refused (a release's canary throttle). */
  variants?: Record<string, { rateLimit?: MeshRateLimit; concurrencyLimit?: number; overflowTo?: string }>;
}

export interface MeshServiceView {
  name: string;
  routes?: MeshRoute[];
  policy?: MeshPolicy;
  /** The service port: the inbound proxies listen on HOST:port, the gateway on 127.0.0.1:port. */
  port: number;
  endpoints: MeshEndpoint[];
  /** Present when the service scales to zero: a request finding no endpoint is held (up to timeoutMs) while the proxy asks for one. */
  activation?: { timeoutMs: number };
}

/** The control plane's answer to POST /api/v1/mesh/activate. */
export interface MeshActivation {
  service: string;
  /** Deployments of the service that were at zero and now start an instance. */
  started: string[];
}

/** What an instance's inbound proxy has seen (admin GET /mesh/activity): the idle rule of scale to zero reads it. */
export interface MeshActivity {
  /** Inbound requests accepted since the proxy started (counted when they arrive, not when they end). */
  inbound: number;
  /** Inbound requests in flight now. */
  inflight: number;
}

/** One ingress route: the first whose match holds sends the request to `to`. */
export interface MeshIngressRoute {
  match?: { path?: { prefix?: string; exact?: string } };
  to: string;
}

/** What the app behind a service speaks (spec `protocol`); absent in a snapshot: `http` (HTTP/1.1). */
export type MeshAppProtocol = 'http' | 'h2c' | 'grpc';

export interface MeshConfig {
  ingress?: { port: number; routes: MeshIngressRoute[] };
  /** Per service: its routes and destination policy (only services that declare them). */
  services?: Record<string, { routes?: MeshRoute[]; policy?: MeshPolicy; protocol?: MeshAppProtocol; /** Never compared in a shadow diff of this service's answers (spec `replay.ignore`). */ ignore?: string[] }>;
  accessLog: boolean;
  /** Generate x-request-id when absent (Envoy generate_request_id); absent: true. */
  requestId?: boolean;
  /** The gateway appends the client's address to x-forwarded-for (Envoy use_remote_address at the edge); absent: true. */
  forwardedFor?: boolean;
  /** Proxies in front of the gateway trusted to set x-forwarded-proto (Envoy xff_num_trusted_hops); absent: 0. */
  trustedHops?: number;
  /** Traffic recording per service (the spec's `record:` and `berth record start`); absent: nothing is recorded. */
  recordings?: Record<string, MeshRecording>;
  /** `berth replay --mock-dependencies`: per service, the sidecars that answer recorded downstream calls themselves. */
  mocks?: Record<string, MeshMock>;
  /** Spec `mesh.tracing`; absent: no spans are emitted (trace context is still propagated). */
  tracing?: MeshTracing;
}

/**
 * A replay's responder (src/sidecar/proxy/responder.ts): the service's sidecars (of `variant` only,
 * when given) answer outbound calls whose trace id is in `<stateDir>/mocks/<id>.json` from it.
 */
export interface MeshMock {
  id: string;
  variant?: string;
}

/** One recorded downstream call in a mock file. */
export interface MockCall {
  traceId: string;
  service: string;
  method: string;
  /** Path and query. */
  path: string;
  /** sha256 of the request body, hex; '' for none. */
  bodySha: string;
  status: number;
  headers: [string, string][];
  /** base64 */
  body: string;
}

/** What a sidecar's responder did, written to `<stateDir>/mocks/<id>.<proxy>.result.json` when the mock ends. */
export interface MockResult {
  proxy: string;
  hits: number;
  misses: number;
  /** The first misses (at most 100): calls of a replayed trace the recording has no answer for. */
  missed: { service: string; method: string; path: string; traceId: string }[];
}

/** One service's recording, as the proxies apply it (src/sidecar/proxy/recorder.ts). */
export interface MeshRecording {
  /** Names the folder `<stateDir>/recordings/<id>/` the proxies write into. */
  id: string;
  /** Fraction of requests recorded, 0..1. */
  sample: number;
  /** Only requests matching one of these are recorded (absent: all). */
  match?: MeshRoute['match'][];
  /** Header names whose values are replaced by `REDACTED` (lower case; the defaults included). */
  redactHeaders: string[];
  maxBodyBytes: number;
  maxFileMiB: number;
  /** Epoch ms after which the proxies stop recording (`--duration`). */
  until?: number;
}

export interface MeshSnapshot {
  /** Grows with every change; a new control plane starts above the old one's versions (wall-clock based). */
  version: number;
  app: string;
  services: MeshServiceView[];
  config: MeshConfig;
  /**
   * Instances withdrawn from routing that still run until every proxy dropped them (the withdraw
   * protocol): their own sidecar keeps serving what a proxy holding an older snapshot sends them. Absent
   * when none.
   */
  leaving?: string[];
}

export interface MeshStatus {
  version: number;
  /** True when every proxy that must route (the gateway, the sidecar of every ready instance) acknowledged `version`. */
  synced: boolean;
  /** Proxies that have not acknowledged `version` yet. */
  pending: string[];
}

/** One series of a proxy's cumulative counters (GET /mesh/stats on its admin port). Buckets: seconds, see STATS_BUCKETS. */
export interface MeshStatsSeries {
  direction: string;
  destination: string;
  variant: string;
  count: number;
  /** 5xx answers and requests that got no answer. */
  errors: number;
  /** Cumulative counts per bucket upper bound (STATS_BUCKETS). */
  buckets: number[];
  sum: number;
}

export const STATS_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

/** One line of `berth top --json`: a service (and variant) as its inbound proxies saw it over the last window. */
export interface MeshTopRow {
  service: string;
  variant: string;
  rps: number;
  p50Ms: number | null;
  p99Ms: number | null;
  errorPct: number;
  instances: number;
  /** Replicas in force for this deployment (the autoscaler's, `berth scale`'s or the spec's). */
  replicas?: number;
  /** The autoscaler's desired replicas and why (only for services with `scale:`). */
  desiredReplicas?: number;
  scaleReason?: string;
}

/** How often a field differed in a proxy's shadow diffs, with the last example of it. */
export interface MeshShadowField {
  path: string;
  count: number;
  expected: string;
  actual: string;
}

/** A proxy's shadow-diff counters (GET /mesh/shadow `counts`): per service, route and mirror key. */
export interface MeshShadowCount {
  /** The service whose route mirrored (the primary's). */
  service: string;
  route: string;
  /** The route's `mirror.key` (a release's canary revision); absent when it has none. */
  key?: string;
  same: number;
  diff: number;
  /** One side failed (no answer, or the client went away). */
  error: number;
  /** The fields that differed most often, most first. */
  fields: MeshShadowField[];
}

/** Instance id of the gateway (the ingress and the services' 127.0.0.1 addresses). */
export const GATEWAY_ID = 'berth-gateway';

/** Response header saying why the proxy answered instead of the app; a 503 carrying it never reached the app (safe to retry). */
export const REASON_HEADER = 'x-berth-reason';

/** Ports a proxy uses on its instance's own HOST, chosen so that none equals the service port. (The app's private PORT is allocated per instance, not here.) */
export function meshPorts(servicePort: number): { admin: number; forwardProxy: number; outbound(index: number): number } {
  const base = servicePort >= 15000 && servicePort < 15100 ? 16000 : 15000;
  return { admin: base + 1, forwardProxy: base + 2, outbound: (i) => base + 10 + i };
}

/**
 * Node flags of every mesh proxy process (sidecar and gateway); bench/proxy measures with the same.
 * A 2 MiB young generation (Node's default is 16 MiB per semi-space) keeps a busy proxy's RSS about
 * 25 MB lower at no measurable cost in throughput: its garbage is short-lived per-request objects.
 */
export const PROXY_NODE_FLAGS: string[] = ['--max-semi-space-size=2'];

/** The mesh proxy's sidecar (and process) name: in specs' plans, `berth ps`, capture files and log records. */
export const PROXY_SIDECAR_NAME = 'berth-proxy';

/**
 * Environment every mesh proxy process gets on top of the agent's. The proxy makes no TLS
 * connection, so an inherited NODE_EXTRA_CA_CERTS (which Node loads at start-up) is emptied: a
 * 220 KB bundle costs about 1.7 MB of RSS per process. Its allocations happen on its main thread,
 * so one malloc arena serves (glibc gives each helper thread its own otherwise): ~1.5 MB less RSS
 * under load.
 */
export const PROXY_ENV: Readonly<Record<string, string>> = { NODE_EXTRA_CA_CERTS: '', MALLOC_ARENA_MAX: '1' };

/** Spec `mesh.tracing`: proxies emit spans of sampled traces to the control plane (and to an OTLP/HTTP endpoint). */
export interface MeshTracing {
  /** Share of new traces sampled (0..1); a request with a `traceparent` keeps its sampled flag. */
  sample: number;
  /** OTLP/HTTP base URL (spans are POSTed as JSON to `<otlp>/v1/traces`). */
  otlp?: string;
}

/** One span a proxy emits: a request arriving at a service (`server`) or sent to one (`client`, one per hop). */
export interface TraceSpan {
  traceId: string;
  spanId: string;
  /** The span that sent this request; absent for a trace's first span. */
  parentId?: string;
  kind: 'server' | 'client';
  /** The service that received the request (client spans: the destination). */
  service: string;
  /** Who sent it (client spans: the caller's service, `ingress` for the gateway). */
  source?: string;
  variant: string;
  route: string;
  method: string;
  path: string;
  /** HTTP status (499: the client went away). */
  status: number;
  /** Epoch milliseconds (fractional). */
  start: number;
  durationMs: number;
  proxy: string;
  /** A mirrored copy's call (client span; Istio's route `mirror`): its answer went to the shadow diff, not to the caller. */
  shadow?: boolean;
}

/** POST /api/v1/traces: a proxy's batch. */
export interface TraceBatch {
  proxy: string;
  spans: TraceSpan[];
}
