// The Berth spec as zod schemas: the single source of the spec's types, per-field validation,
// defaults and (through json-schema.ts) the published JSON Schema. Rules that relate several
// fields or services to each other live in semantic.ts.
import { GitopsSources } from './schema-gitops.js';
import { z } from 'zod';
import { Logs } from './schema-logs.js';
import { Nodes, Placement, Priority } from './schema-nodes.js';
import { Scale } from './schema-scale.js';
import { HeaderName, HeaderValue, Ingress, MeshSettings, Policy, RecordSettings, ReplaySettings, Route } from './schema-mesh.js';
import { Variants } from './variants.js';
import { MAX_REPLICAS, badRequestPath, bounded } from './bounded.js';
import { Secrets, ServiceSecrets } from './schema-secrets.js';
import { KubernetesBlock } from './schema-kubernetes.js';
import { Components, ComponentsPath, DaprBlock } from './schema-components.js';
import { Volumes } from './schema-volumes.js';
import { Watch } from './schema-watch.js';
import { AnalysisTemplates, Release } from './schema-release.js';
import { Policies, ServiceLabels } from './schema-policy.js';

export { DNS_LABEL_RE, DNS_LABEL_MESSAGE, Label } from './label.js';
import { Label } from './label.js';

export const Port = z
  .number()
  .int({ message: 'a port must be a whole number' })
  .min(1, { message: 'a port must be between 1 and 65535' })
  .max(65535, { message: 'a port must be between 1 and 65535' });

export const ENV_NAME_RE = /^[A-Za-z_][A-Za-z0-9_.-]*$/;

/** Environment variables. YAML numbers and booleans are accepted and turned into strings. */
export const EnvMap = z
  .record(
    z.string().regex(ENV_NAME_RE, { message: 'an environment variable name must start with a letter or _ and contain only letters, digits, _ . -' }),
    z.union([z.string(), z.number(), z.boolean()]).transform((v) => String(v)),
  )
  .describe('Environment variables for the process. Numbers and booleans are converted to strings.');

/** A command: a string (split like a shell would, without running one) or an argv list. */
export const Command = z
  .union([
    z.string().min(1, { message: 'the command must not be empty' }),
    z.array(z.string()).min(1, { message: 'the argv list must not be empty' }),
  ])
  .describe(
    'The command to run: a string split into arguments like a shell would (quotes and backslashes honoured, $VARS left as written, no shell operators), or a list of arguments.',
  );

const PERCENT_RE = /^(100|[1-9]?[0-9])%$/;
const IntOrPercent = z.union([
  z.number().int({ message: 'must be a whole number or a percentage like "25%"' }).min(0, { message: 'must not be negative' }).max(MAX_REPLICAS, { message: `must be at most ${MAX_REPLICAS} (or a percentage)` }),
  z.string().regex(PERCENT_RE, { message: 'must be a whole number or a percentage between "0%" and "100%"' }),
]);

// --- probes -----------------------------------------------------------------------------------

export const HttpProbeHandler = z
  .strictObject({
    path: z
      .string()
      .startsWith('/', { message: 'the path must start with "/"' })
      .superRefine((p, ctx) => {
        const why = p.startsWith('/') ? badRequestPath(p) : undefined; // startsWith reports the other case
        if (why !== undefined) ctx.addIssue({ code: 'custom', message: why });
      })
      .default('/').describe('Request path (Kubernetes httpGet.path).'),
    port: Port.optional().describe("Port to probe; defaults to the service's port."),
    scheme: z.enum(['http', 'https']).default('http').describe('http or https (Kubernetes httpGet.scheme).'),
    headers: z.record(HeaderName, HeaderValue).default({}).describe('Extra request headers (Kubernetes httpGet.httpHeaders).'),
  })
  .describe('HTTP GET probe: passes on a 2xx or 3xx status (Kubernetes httpGet).');

export const TcpProbeHandler = z
  .strictObject({ port: Port.optional().describe("Port to connect to; defaults to the service's port.") })
  .describe('TCP probe: passes when a connection opens (Kubernetes tcpSocket).');

export const ExecProbeHandler = z
  .strictObject({ command: Command })
  .describe('Exec probe: runs a command in the instance\'s directory and environment; passes on exit code 0 (Kubernetes exec).');

export const GrpcProbeHandler = z
  .strictObject({
    port: Port.optional().describe("Port of the gRPC server; defaults to the service's port."),
    service: z.string().optional().describe('Service name sent in the grpc.health.v1 HealthCheckRequest.'),
  })
  .describe('gRPC health check (grpc.health.v1), as Kubernetes grpc probes.');

export const PROBE_HANDLERS = ['http', 'tcp', 'exec', 'grpc'] as const;

function probeSchema(kind: 'startup' | 'readiness' | 'liveness') {
  const successThreshold =
    kind === 'readiness'
      ? bounded('successThreshold').default(1)
      : z.literal(1, { message: `must be 1 for ${kind} probes (as in Kubernetes)` }).default(1);
  return z.strictObject({
    http: HttpProbeHandler.optional(),
    tcp: TcpProbeHandler.optional(),
    exec: ExecProbeHandler.optional(),
    grpc: GrpcProbeHandler.optional(),
    initialDelaySeconds: bounded('initialDelaySeconds').default(0).describe('Seconds to wait after start before the first probe.'),
    periodSeconds: bounded('periodSeconds').default(1).describe('Seconds between probes (fractions allowed). Kubernetes defaults to 10; Berth to 1.'),
    timeoutSeconds: bounded('timeoutSeconds').default(1).describe('Seconds after which a probe attempt counts as failed.'),
    successThreshold: successThreshold.describe('Consecutive successes to count as passing after a failure. Must be 1 for liveness and startup probes.'),
    failureThreshold: bounded('failureThreshold').default(3).describe('Consecutive failures to count as failing.'),
  });
}

export const StartupProbe = probeSchema('startup').describe(
  'Startup probe (Kubernetes startupProbe): readiness and liveness probes wait until it passes; failing it failureThreshold times restarts the instance.',
);
export const ReadinessProbe = probeSchema('readiness').describe(
  'Readiness probe (Kubernetes readinessProbe): while it fails, the instance receives no traffic.',
);
export const LivenessProbe = probeSchema('liveness').describe(
  'Liveness probe (Kubernetes livenessProbe): failing it failureThreshold times restarts the instance.',
);

// --- service ----------------------------------------------------------------------------------

export const Sidecar = z
  .strictObject({
    name: Label.describe('Sidecar name, unique within the service; "app" is reserved.'),
    run: Command,
    cwd: z.string().optional().describe("Working directory, relative to the spec file's directory."),
    env: EnvMap.default({}),
  })
  .describe('A helper process started, supervised and stopped together with each instance (a container of the same pod).');

/** A container image reference (repository[:tag][@digest]), as Kubernetes takes it. */
export const ContainerImage = z
  .string()
  .regex(/^[a-z0-9]+([._-]+[a-z0-9]+)*(:[0-9]+)?(\/[a-z0-9]+([._-]+[a-z0-9]+)*)*(:[\w][\w.-]{0,127})?(@[a-z0-9]+:[a-f0-9]{32,})?$/, {
    message: 'must be an image reference like registry.example.com/team/web:1.2.3 (lowercase repository, optional :tag and @sha256:digest)',
  })
  .describe('Container image for the Kubernetes target (Kubernetes containers[].image). Unused locally; when absent, `berth render` names <app>-<service>:<revision> and writes a Dockerfile for it.');

export const DEPENDENCY_CONDITIONS = ['started', 'ready'] as const;
export const DependsOn = z
  .union([
    z.array(z.string()).describe('Service names; each waits until started.'),
    z.record(z.string(), z.enum(DEPENDENCY_CONDITIONS)).describe('Service name → condition: started or ready.'),
  ])
  .transform((v): Record<string, 'started' | 'ready'> =>
    Array.isArray(v) ? Object.fromEntries(v.map((name) => [name, 'started' as const])) : v,
  )
  .describe('Services that must be started (or ready) before this one starts, as in docker compose.');

export const RESTART_POLICIES = ['always', 'on-failure', 'never'] as const;
export const Restart = z
  .strictObject({
    policy: z.enum(RESTART_POLICIES).default('always').describe('always, on-failure (non-zero exit) or never (Kubernetes restartPolicy).'),
    backoff: z
      .strictObject({
        initialSeconds: bounded('backoffSeconds').default(0.5).describe('Delay before the first restart; doubles on each further crash.'),
        maxSeconds: bounded('backoffSeconds').default(30).describe('Upper bound of the restart delay (Kubernetes: 300 s).'),
        resetAfterSeconds: bounded('backoffSeconds').default(60).describe('Running this long without crashing resets the delay.'),
      })
      .prefault({})
      .describe('Exponential restart delay, like Kubernetes CrashLoopBackOff (but faster by default).'),
  })
  .describe('What to do when the process exits.');

export const Resources = z
  .strictObject({
    memoryMiB: bounded('memoryMiB').optional().describe('Memory limit in MiB (Kubernetes resources.limits.memory, in Mi).'),
    cpuMillis: bounded('cpuMillis').optional().describe('CPU limit in millicores (Kubernetes resources.limits.cpu, in m).'),
  })
  .describe('Resource limits per instance.');

export const Rollout = z
  .strictObject({
    maxSurge: IntOrPercent.default(1).describe('Instances that may be created above replicas during a rollout (Kubernetes maxSurge).'),
    maxUnavailable: IntOrPercent.default(0).describe('Instances that may be unavailable during a rollout (Kubernetes maxUnavailable).'),
  })
  .describe('Rolling update parameters (Kubernetes RollingUpdate strategy).');

/** What an app speaks on its port (`protocol`): HTTP/1.1, HTTP/2 cleartext with prior knowledge, or gRPC (over h2c). */
export const SERVICE_PROTOCOLS = ['http', 'h2c', 'grpc'] as const;

export const Service = z
  .strictObject({
    run: Command,
    cwd: z.string().optional().describe("Working directory, relative to the spec file's directory."),
    env: EnvMap.default({}),
    image: ContainerImage.optional(),
    envFile: z.string().optional().describe("A dotenv file, relative to the spec file's directory; its variables are added under env."),
    user: z
      .string()
      .regex(/^(?:[a-z_][a-z0-9_.-]*\$?|\d+(?::\d+)?)$/i, { message: 'must be a user name or uid[:gid]' })
      .optional()
      .describe('OS user the app (and its own sidecars) run as: a user name or uid[:gid]. Default: your user; `nobody` when Berth runs as root (Kubernetes securityContext.runAsUser/runAsGroup).'),
    port: Port.optional().describe('Port the service listens on: each instance gets PORT and its own address; the service is reached at 127.0.0.1:port (Kubernetes containerPort / Service port).'),
    protocol: z.enum(SERVICE_PROTOCOLS).default('http').describe('What the app speaks on its port: http (HTTP/1.1; the mesh translates HTTP/2 clients to it, as Envoy does), h2c (HTTP/2 over cleartext) or grpc (Kubernetes appProtocol).'),
    replicas: bounded('replicas').default(1).describe('Number of instances (Kubernetes replicas).'),
    uses: z.array(z.string()).default([]).describe('Services this one calls; each gives the instance BERTH_<NAME>_URL.'),
    dependsOn: DependsOn.default({}),
    sidecars: z.array(Sidecar).default([]).describe('Helper processes run beside each instance.'),
    probes: z
      .strictObject({
        startup: StartupProbe.optional(),
        readiness: z
          .union([z.literal('none'), ReadinessProbe])
          .optional()
          .describe("Readiness probe. A service with a `port` and none declared gets a TCP probe on the app's port (ready once the app accepts connections); `none` opts out (ready once started)."),
        liveness: LivenessProbe.optional(),
      })
      .default({})
      .describe('Health probes, with Kubernetes names and meaning. Each has exactly one handler: http, tcp, exec or grpc.'),
    restart: Restart.prefault({}),
    resources: Resources.default({}),
    stopGracePeriodSeconds: bounded('stopGracePeriodSeconds').default(10).describe('Seconds between SIGTERM and SIGKILL when stopping (Kubernetes terminationGracePeriodSeconds).'),
    rollout: Rollout.prefault({}),
    placement: Placement.optional(),
    priority: Priority,
    scale: Scale.optional(),
    routes: z.array(Route).optional().describe('Routes for all traffic sent to this service, from other services or the ingress; the first match wins.'),
    policy: Policy.optional(),
    record: RecordSettings.optional(),
    replay: ReplaySettings.optional(),
    variants: z.lazy(() => Variants).optional(),
    release: Release.optional(),
    logs: Logs.prefault({}),
    secrets: ServiceSecrets,
    dapr: DaprBlock.optional(),
    volumes: Volumes,
    labels: ServiceLabels,
    watch: Watch.optional(),
  })
  .describe('A service: a program run as one or more identical instances.');

export const AppSchema = z
  .strictObject({
    app: Label.describe('Application name (a DNS-1123 label).'),
    services: z
      .record(Label, Service)
      .refine((s) => Object.keys(s).length > 0, { message: 'declare at least one service' })
      .describe('The services of the application, by name (DNS-1123 labels).'),
    nodes: Nodes.optional(),
    ingress: Ingress.optional(),
    mesh: MeshSettings.prefault({}),
    secrets: Secrets.optional(),
    kubernetes: KubernetesBlock.optional(),
    componentsPath: ComponentsPath.optional(),
    components: Components.optional(),
    analysisTemplates: AnalysisTemplates.optional(),
    policies: Policies,
    gitops: GitopsSources,
    environments: z
      .record(Label, z.record(z.string(), z.unknown()))
      .default({})
      .describe('Named overlays, deep-merged onto the spec when that environment is chosen (maps merge; lists and scalars replace).'),
  })
  .describe('A Berth application.');

export type AppSpec = z.output<typeof AppSchema>;
export type AppSpecInput = z.input<typeof AppSchema>;
export type ServiceSpec = z.output<typeof Service>;
export type ServiceSpecInput = z.input<typeof Service>;
export type ProbeSpec = z.output<typeof ReadinessProbe>;
export type SidecarSpec = z.output<typeof Sidecar>;
export type RestartSpec = z.output<typeof Restart>;
export type RolloutSpec = z.output<typeof Rollout>;
export type HttpProbeSpec = z.output<typeof HttpProbeHandler>;
export type TcpProbeSpec = z.output<typeof TcpProbeHandler>;
export type ExecProbeSpec = z.output<typeof ExecProbeHandler>;
export type GrpcProbeSpec = z.output<typeof GrpcProbeHandler>;
export type DependencyCondition = (typeof DEPENDENCY_CONDITIONS)[number];
export type RestartPolicy = (typeof RESTART_POLICIES)[number];
