// Spec fields for the service mesh: the top-level `ingress:` (a gateway on 127.0.0.1 that sends
// requests to services by route, with Istio VirtualService meaning: the first matching route wins,
// path `prefix` is a plain string prefix) and `mesh:` (settings of every proxy).
import { z } from 'zod';
import { RE2JS } from 're2js';
import { Label } from './label.js';
import { MAX_DURATION_SECONDS, badHeaderName, badHeaderValue } from './bounded.js';

const MeshPort = z
  .number()
  .int({ message: 'a port must be a whole number' })
  .min(1, { message: 'a port must be between 1 and 65535' })
  .max(65535, { message: 'a port must be between 1 and 65535' });

/**
 * A path (or path prefix) a route matches: it starts with `/`, and holds no `?` or `#` — routes
 * match the path without its query, and a target with a fragment is refused, so such a match never
 * held (Envoy's prefix match, which reads the query too, did match `/a?x=1`).
 */
const MatchPath = (what: 'a path' | 'a path prefix') =>
  z
    .string()
    .startsWith('/', { message: `${what} must start with "/"` })
    .refine((p) => !/[?#]/.test(p), { message: `${what} is matched without the query, and a request target never holds \`#\`: a \`?\` or \`#\` here never matches (match query parameters with \`query\`)` });

export const PathMatch = z
  .strictObject({
    prefix: MatchPath('a path prefix').optional().describe('Matches paths starting with this string (Istio uri.prefix).'),
    exact: MatchPath('a path').optional().describe('Matches exactly this path, without the query (Istio uri.exact).'),
  })
  .refine((p) => (p.prefix === undefined) !== (p.exact === undefined), { message: 'give exactly one of `prefix` or `exact`' })
  .describe('How the request path is matched.');

export const IngressRoute = z
  .strictObject({
    match: z.strictObject({ path: PathMatch.optional() }).optional().describe('Conditions; an absent match matches every request.'),
    to: Label.describe('The service that receives matching requests.'),
  })
  .describe('One ingress route (Istio HTTPRoute): the first route whose match holds is used.');

export const Ingress = z
  .strictObject({
    port: MeshPort.describe('Port of the gateway on 127.0.0.1 (Istio Gateway port).'),
    routes: z.array(IngressRoute).min(1, { message: 'give at least one route' }).describe('Routes, tried in order; the first match wins. A request no route matches gets 404.'),
  })
  .describe('The ingress gateway: how people and tests reach the application from outside, on 127.0.0.1.');

export const MeshSettings = z
  .strictObject({
    accessLog: z.boolean().default(true).describe('Every proxy writes one JSON line per request to its log.'),
    requestId: z.boolean().default(true).describe('Proxies add an x-request-id (a random UUID) to requests that have none, as Envoy does.'),
    forwardedFor: z.boolean().default(true).describe("The gateway appends the client's address to x-forwarded-for (and sets x-forwarded-proto), as Envoy at the edge."),
    trustedHops: z
      .number()
      .int({ message: 'must be a whole number' })
      .min(0, { message: 'must be 0 or more' })
      .max(16, { message: 'must be at most 16' })
      .optional()
      .describe("Proxies in front of the gateway (a TLS terminator, a load balancer) trusted to set x-forwarded-proto (Envoy xff_num_trusted_hops). Absent or 0: the gateway is the edge and sets x-forwarded-proto itself, whatever the client sent."),
    tracing: z
      .strictObject({
        sample: z.number().min(0, { message: 'must be between 0 and 1' }).max(1, { message: 'must be between 0 and 1' }).default(0.1).describe('Share of new traces sampled (0..1); a request that arrives with a `traceparent` keeps its sampled flag.'),
        otlp: z
          .string()
          .regex(/^https?:\/\/[^\s/]+/, { message: 'must be an http:// or https:// URL' })
          .optional()
          .describe('An OTLP/HTTP endpoint (e.g. http://127.0.0.1:4318): spans are also POSTed there as JSON to /v1/traces.'),
      })
      .optional()
      .describe('The proxies emit one span per hop of sampled requests to the control plane (the dashboard\'s Traces view); see docs/dashboard.md.'),
  })
  .describe('Settings of the mesh proxies (the `berth-proxy` sidecar of every service with a port, and the gateway).');

export type IngressSpec = z.output<typeof Ingress>;
export type MeshSettingsSpec = z.output<typeof MeshSettings>;

// --- service traffic: routes (Istio VirtualService http[]) and policy (Istio DestinationRule) ------

/** A duration: seconds as a number, or a string like "250ms", "1.5s". Compiled to milliseconds. */
export const Duration = z
  .union([
    z.number().positive({ message: 'must be greater than 0 (seconds)' }),
    z.string().regex(/^\d+(\.\d+)?(ms|s)$/, { message: 'must be seconds (a number) or a string like "250ms" or "2s"' }),
  ])
  .transform((v) => (typeof v === 'number' ? v * 1000 : v.endsWith('ms') ? Number(v.slice(0, -2)) : Number(v.slice(0, -1)) * 1000))
  // Timers count whole milliseconds and overflow above 2^31-1 ms: the shared bounds keep it in range.
  .pipe(
    z
      .number()
      .min(1, { message: 'must be at least 1 ms' })
      .max(MAX_DURATION_SECONDS * 1000, { message: `must be at most ${MAX_DURATION_SECONDS} seconds (one day)` }),
  )
  .describe('A duration: seconds (number) or a string like "250ms" / "2s", from 1 ms to one day.');

/**
 * A regular expression run by the proxies on RE2 (linear time, as Envoy and Istio): what RE2 does
 * not support (backreferences, lookahead/lookbehind, possessive quantifiers) is refused here.
 */
export const Re2Regex = z.string().superRefine((s, ctx) => {
  const why = re2Problem(s);
  if (why !== undefined) ctx.addIssue({ code: 'custom', message: why });
});

/** Verdicts by pattern: large specs repeat the same few patterns thousands of times. */
const re2Verdicts = new Map<string, string | undefined>();

/** Why RE2 refuses `pattern` (undefined when it compiles). */
export function re2Problem(pattern: string): string | undefined {
  if (re2Verdicts.has(pattern)) return re2Verdicts.get(pattern);
  const why = re2Verdict(pattern);
  if (re2Verdicts.size >= 10_000) re2Verdicts.clear(); // bounded memory in a long-lived process
  re2Verdicts.set(pattern, why);
  return why;
}

function re2Verdict(pattern: string): string | undefined {
  try {
    RE2JS.compile(pattern);
    return undefined;
  } catch (e) {
    const detail = (e instanceof Error ? e.message : String(e)).replace(/^error parsing regexp: /, '');
    const unsupported = /\\[1-9]|\(\?<?[=!]|\(\?>|[*+?}]\+/.test(pattern);
    return unsupported
      ? `not supported by RE2, the linear-time engine routes run on (no backreferences or lookaround): ${detail}`
      : `not a valid RE2 regular expression: ${detail}`;
  }
}

/** A header name a proxy may send: an RFC 9110 token. */
export const HeaderName = z.string().superRefine((s, ctx) => {
  const why = badHeaderName(s);
  if (why !== undefined) ctx.addIssue({ code: 'custom', message: why });
});

/** A header value a proxy may send: no CR, LF, NUL or other control characters. */
export const HeaderValue = z.string().superRefine((s, ctx) => {
  const why = badHeaderValue(s);
  if (why !== undefined) ctx.addIssue({ code: 'custom', message: why });
});

const Percent = z.number().min(0, { message: 'must be between 0 and 100' }).max(100, { message: 'must be between 0 and 100' });

export const StringMatch = z
  .strictObject({
    exact: z.string().optional(),
    prefix: z.string().optional(),
    regex: Re2Regex.optional().describe('A regular expression (RE2 syntax, as Envoy and Istio) that must match the whole value.'),
    present: z.boolean().optional().describe('true: the header/parameter must be present (any value); false: absent.'),
  })
  .refine((m) => [m.exact, m.prefix, m.regex, m.present].filter((v) => v !== undefined).length === 1, { message: 'give exactly one of `exact`, `prefix`, `regex` or `present`' })
  .describe('How a string is matched (Istio StringMatch).');

export const RoutePathMatch = z
  .strictObject({
    exact: MatchPath('a path').optional(),
    prefix: MatchPath('a path prefix').optional(),
    regex: Re2Regex.optional().describe('A regular expression (RE2 syntax) that must match the whole path.'),
  })
  .refine((m) => [m.exact, m.prefix, m.regex].filter((v) => v !== undefined).length === 1, { message: 'give exactly one of `exact`, `prefix` or `regex`' })
  .describe('Path match, without the query (Istio uri).');

/** What a route matches a pseudo-header (Envoy's habit) by instead: it is never a header a route sees. */
const PSEUDO_HEADER_FIELDS: Record<string, string> = { ':authority': 'match `host`', ':method': 'use `method`', ':path': 'use `path`', ':scheme': 'every mesh port is plain http' };

/** A header a route matches: a header name (a pseudo-header such as `:authority` never matched anything). */
const MatchHeaderName = z.string().superRefine((s, ctx) => {
  const pseudo = PSEUDO_HEADER_FIELDS[s.toLowerCase()];
  const why = pseudo !== undefined ? `an HTTP/2 pseudo-header, which routes do not see as a header: ${pseudo}` : badHeaderName(s);
  if (why !== undefined) ctx.addIssue({ code: 'custom', message: why });
});

export const RouteMatch = z
  .strictObject({
    path: RoutePathMatch.optional(),
    method: z.union([z.string(), z.array(z.string())]).optional().describe('HTTP method(s), e.g. GET or [GET, HEAD].'),
    headers: z.record(MatchHeaderName, StringMatch).optional().describe('Header name → match; every entry must hold.'),
    query: z.record(z.string(), StringMatch).optional().describe('Query parameter → match; every entry must hold.'),
  })
  .describe('Conditions of a route; all given conditions must hold (Istio HTTPMatchRequest).');

export const Destination = z
  .strictObject({
    service: Label.describe('Service that receives the request.'),
    variant: Label.optional().describe("Only this variant's instances (Istio subset)."),
    weight: z.number().int({ message: 'must be a whole number' }).min(0, { message: 'must not be negative' }).default(100).describe('Relative share of the requests.'),
  })
  .describe('A weighted destination (Istio HTTPRouteDestination).');

export const RateLimit = z
  .strictObject({
    requestsPerSecond: z.number().positive({ message: 'must be greater than 0' }).describe('Tokens added per second.'),
    burst: z.number().int().positive().optional().describe('Bucket size (default: requestsPerSecond, at least 1).'),
  })
  .describe('Local token-bucket rate limit, per proxy (Envoy local_ratelimit): over it, 429 with Retry-After.');

const ConcurrencyLimit = z.number().int().positive().describe('Requests in flight at once, per proxy; more get 503 with x-berth-reason: concurrency-limit.');

export const Throttle = z.strictObject({ rateLimit: RateLimit.optional(), concurrencyLimit: ConcurrencyLimit.optional() });

/**
 * Retry conditions (Istio's retryOn): HTTP ones, and gRPC status names, which apply to a gRPC error
 * answered in the response headers (trailers-only), as Envoy's retry_on grpc conditions.
 */
export const RETRY_ON = ['5xx', 'gateway-error', 'connect-failure', 'reset', 'cancelled', 'deadline-exceeded', 'internal', 'resource-exhausted', 'unavailable'] as const;

const HeaderOps = z
  .strictObject({
    set: z.record(HeaderName, HeaderValue).optional().describe('Header name → value, replacing any value the message had.'),
    add: z.record(HeaderName, HeaderValue).optional().describe('Header name → value, added beside any value the message had.'),
    remove: z.array(HeaderName).optional().describe('Header names to remove.'),
  })
  .describe('Header rewrites (Istio Headers.HeaderOperations).');

export const Route = z
  .strictObject({
    name: z.string().optional().describe('Route name, used in metrics.'),
    match: RouteMatch.optional().describe('Conditions; an absent match matches every request.'),
    to: z
      .union([Label, z.array(Destination).min(1, { message: 'give at least one destination' })])
      .optional()
      .describe('Where matching requests go: a service name, or weighted destinations. Default: this service.'),
    timeout: Duration.optional().describe('Whole-request timeout; 504 when it passes (Istio timeout).'),
    retries: z
      .strictObject({
        attempts: z.number().int().min(0).default(2).describe('Retries after the first try.'),
        perTryTimeout: Duration.optional(),
        retryOn: z.array(z.enum(RETRY_ON)).default(['connect-failure', 'reset']).describe('5xx, gateway-error (502/503/504), connect-failure, reset; for gRPC also cancelled, deadline-exceeded, internal, resource-exhausted, unavailable.'),
        nonIdempotent: z.boolean().default(false).describe('Also retry POST/PATCH (only when asked: they may have been applied).'),
      })
      .optional()
      .describe('Retries; a retry goes to another endpoint when there is one (Istio HTTPRetry).'),
    fault: z
      .strictObject({
        delay: z.strictObject({ percent: Percent, fixedDelay: Duration }).optional(),
        abort: z.strictObject({ percent: Percent, status: z.number().int().min(200).max(599) }).optional(),
      })
      .optional()
      .describe('Fault injection (Istio HTTPFaultInjection).'),
    mirror: z
      .strictObject({ service: Label, variant: Label.optional(), percent: Percent.default(100) })
      .optional()
      .describe('Copies a share of the requests to another service; its responses are discarded (Istio mirror).'),
    headers: z.strictObject({ request: HeaderOps.optional(), response: HeaderOps.optional() }).optional(),
    rateLimit: RateLimit.optional(),
    concurrencyLimit: ConcurrencyLimit.optional(),
  })
  .describe('A route (Istio HTTPRoute): the first route whose match holds is used.');

export const BALANCERS = ['round_robin', 'least_request', 'random'] as const;

export const Policy = z
  .strictObject({
    balancer: z
      .union([z.enum(BALANCERS), z.strictObject({ consistentHash: z.strictObject({ header: HeaderName.optional(), cookie: z.string().optional() }).refine((h) => (h.header === undefined) !== (h.cookie === undefined), { message: 'give exactly one of `header` or `cookie`' }) })])
      .default('round_robin')
      .describe('round_robin, least_request (power of two choices), random, or { consistentHash: { header | cookie } } (Istio loadBalancer).'),
    outlierDetection: z
      .strictObject({
        consecutive5xxErrors: z.number().int().min(0).default(5),
        consecutiveGatewayErrors: z.number().int().min(0).default(0).describe('502/503/504 and connection failures; 0 = off.'),
        interval: Duration.prefault(10),
        baseEjectionTime: Duration.prefault(30),
        maxEjectionPercent: Percent.default(10),
      })
      .optional()
      .describe('Ejects endpoints that fail in a row; they come back after baseEjectionTime × times ejected (Istio outlierDetection).'),
    connectionPool: z
      .strictObject({
        maxConnections: z.number().int().positive().optional().describe('Per endpoint, from each proxy.'),
        maxPendingRequests: z.number().int().min(0).optional().describe('Requests waiting for a connection; more get 503.'),
        maxRequestsPerConnection: z.number().int().positive().optional(),
      })
      .optional()
      .describe('Connection-pool limits; a request over them gets 503 with x-berth-reason (Istio connectionPool).'),
    rateLimit: RateLimit.optional(),
    concurrencyLimit: ConcurrencyLimit.optional(),
    slowStart: z
      .strictObject({
        window: Duration.describe('How long a new endpoint takes to reach its full weight (Envoy slow_start_window).'),
        minWeightPercent: Percent.default(10).describe('Weight a new endpoint starts at (Envoy min_weight_percent).'),
      })
      .optional()
      .describe('A newly registered endpoint gets a share of traffic that ramps linearly over `window` (Envoy slow start).'),
    variants: z.record(Label, Throttle).optional().describe('Rate and concurrency limits per destination variant (what a release controller turns).'),
  })
  .describe('How traffic to this service is spread and protected (Istio DestinationRule trafficPolicy).');

export type RouteSpec = z.output<typeof Route>;
export type PolicySpec = z.output<typeof Policy>;

export const ReplaySettings = z
  .strictObject({
    ignore: z.array(z.string().min(1)).default([]).describe('JSON paths ($.meta.now, $.items[*].id) and header names never compared when this service\'s answers are diffed: `berth replay --to` it, and its mirrored (shadow) answers.'),
  })
  .describe('How answers of this service are compared (docs/replay.md).');

export const RecordSettings = z
  .strictObject({
    sample: z.number().gt(0, { message: 'must be above 0' }).max(1, { message: 'must be at most 1' }).default(1).describe('Fraction of requests recorded.'),
    match: z.array(RouteMatch).optional().describe('Record only requests matching one of these (a route match each); absent: all.'),
    redactHeaders: z.array(HeaderName).default([]).describe('Headers whose values are replaced by REDACTED in the recording, besides authorization, cookie, set-cookie and proxy-authorization (always).'),
    maxBodyBytes: z.number().int({ message: 'must be a whole number' }).min(0).default(1048576).describe('Request and response bodies are cut beyond this size (and marked `_truncated`).'),
    maxFileMiB: z.number().gt(0).default(100).describe('A HAR file is rotated before it passes this size.'),
  })
  .describe("Records this service's traffic in its inbound sidecars and the gateway into HAR 1.2 files under .berth/recordings/ (see docs/replay.md); `berth record start` does it on demand.");
