// Spec fields for Dapr-compatible building blocks: the app's `componentsPath` and inline
// `components:`, a service's `dapr:` block, and the shapes of Dapr's own Component and
// Subscription files (accepted unchanged, as `dapr run --resources-path` reads them).
import { z } from 'zod';

/** Component types Berth serves locally (the metadata names are Dapr's for each). */
export const COMPONENT_TYPES = [
  'state.in-memory',
  'state.sqlite',
  'state.redis',
  'state.postgresql',
  'pubsub.in-memory',
  'pubsub.sqlite',
  'pubsub.redis',
  'pubsub.rabbitmq',
  'pubsub.jetstream',
  'lock.redis',
  'secretstores.local.env',
  'secretstores.local.file',
  'bindings.cron',
  'bindings.http',
] as const;

/** The embedded defaults a service gets when it uses the API and declares no component of that kind. */
export const DEFAULT_STATE_STORE = { name: 'statestore', type: 'state.sqlite' } as const;
export const DEFAULT_PUBSUB = { name: 'pubsub', type: 'pubsub.sqlite' } as const;

/** Dapr's default request body limit (`dapr.io/http-max-request-size`, 4 MB). */
export const DEFAULT_MAX_REQUEST_BODY_MIB = 4;

/** Dapr resource names: Kubernetes object names (DNS-1123 subdomain; Dapr forbids dots in app IDs only). */
export const DAPR_NAME_RE = /^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/;
const DaprName = z
  .string()
  .max(253, { message: 'must be at most 253 characters' })
  .regex(DAPR_NAME_RE, { message: "must be lowercase letters, digits, '-' and '.', starting and ending with a letter or digit (a Kubernetes object name)" });

export const APP_ID_RE = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const AppId = z
  .string()
  .max(63, { message: 'must be at most 63 characters' })
  .regex(APP_ID_RE, { message: "must be lowercase letters, digits and '-' (Dapr app IDs cannot contain dots)" });

const ComponentType = z.string().regex(/^[a-z0-9]+(\.[a-z0-9-]+)+$/, { message: 'must be a Dapr component type like state.redis or pubsub.rabbitmq' });
const Version = z.string().regex(/^v\d+(alpha\d+|beta\d+)?$/, { message: 'must be a version like v1' });

export const SecretKeyRef = z
  .strictObject({
    name: z.string().min(1).describe('Name of the secret (locally: a secret under the top-level `secrets:`, or one in `auth.secretStore`).'),
    key: z.string().optional().describe('Key inside the secret; defaults to the name.'),
  })
  .describe('Where a metadata value comes from, as in Dapr.');

const MetadataScalar = z.union([z.string(), z.number(), z.boolean()]).transform((v) => String(v));

export const MetadataItem = z
  .strictObject({
    name: z.string().min(1, { message: 'a metadata item needs a name' }),
    value: z.union([MetadataScalar, z.null()]).optional().describe('The value (numbers and booleans become strings).'),
    secretKeyRef: SecretKeyRef.optional(),
    envRef: z.string().optional().describe('Read the value from this environment variable of the shell that runs berth (Dapr 1.13+).'),
  })
  .refine((m) => [m.value, m.secretKeyRef, m.envRef].filter((x) => x !== undefined && x !== null).length <= 1, { message: 'give only one of value, secretKeyRef or envRef' });

/** `metadata:` inline: a mapping name → value, or Dapr's list of { name, value | secretKeyRef }. */
export const ComponentMetadata = z
  .union([z.record(z.string(), MetadataScalar), z.array(MetadataItem)])
  .describe("The component's metadata: a mapping of name → value, or Dapr's list of `{ name, value | secretKeyRef }`.");

const Auth = z.strictObject({ secretStore: z.string().min(1).describe('Secret store component that resolves secretKeyRef values.') });

export const InlineComponent = z
  .strictObject({
    type: ComponentType.describe('Dapr component type, e.g. state.redis, pubsub.rabbitmq, state.sqlite.'),
    version: Version.default('v1').describe('Component version (Dapr spec.version).'),
    metadata: ComponentMetadata.default({}),
    scopes: z.array(AppId).default([]).describe('App IDs that may use the component (Dapr scopes); empty: every service.'),
    auth: Auth.optional(),
    ignoreErrors: z.boolean().default(false).describe('Keep the sidecar up when the component fails to initialise (Dapr spec.ignoreErrors).'),
    initTimeout: z.string().optional().describe('How long initialisation may take, e.g. 5s (Dapr spec.initTimeout).'),
  })
  .describe('A Dapr component declared in the spec, same fields as a Component file.');

export const Components = z
  .record(DaprName, InlineComponent)
  .describe('Dapr components by name, declared inline (the same shape as Component files in componentsPath).');

export const ComponentsPath = z
  .string()
  .min(1)
  .describe("Folder of Dapr Component and Subscription YAML files, relative to the spec file's directory. Default: ./components, when it exists.");

export const DaprBlock = z
  .strictObject({
    enabled: z.boolean().optional().describe('Serve the Dapr-compatible API to this service. Default: on when a component is in its scope; false turns it off.'),
    appId: AppId.optional().describe('Dapr app ID (dapr.io/app-id); default: the service name.'),
    apiToken: z.boolean().default(false).describe('Require DAPR_API_TOKEN / the dapr-api-token header on API calls (the app gets the token in DAPR_API_TOKEN).'),
    maxRequestBodyMiB: z.number().positive().max(1024).default(DEFAULT_MAX_REQUEST_BODY_MIB).describe('Largest request body the API accepts, in MiB (dapr.io/http-max-request-size); larger → 413.'),
  })
  .describe('Dapr-compatible building-block API for this service, as Dapr\'s annotations.');

// --- Dapr's own files -------------------------------------------------------------------------

const ObjectMeta = z.looseObject({ name: DaprName, namespace: z.string().optional() });

export const ComponentFile = z.strictObject({
  apiVersion: z.literal('dapr.io/v1alpha1', { message: 'a Component must have apiVersion: dapr.io/v1alpha1' }),
  kind: z.literal('Component'),
  metadata: ObjectMeta,
  spec: z.strictObject({
    type: ComponentType,
    version: Version.default('v1'),
    metadata: z.array(MetadataItem).default([]),
    ignoreErrors: z.boolean().default(false),
    initTimeout: z.string().optional(),
  }),
  auth: Auth.optional(),
  scopes: z.array(AppId).default([]),
});

const RouteRule = z.strictObject({ match: z.string().default(''), path: z.string().min(1) });
const BulkSubscribe = z.strictObject({
  enabled: z.boolean().default(false),
  maxMessagesCount: z.number().int().positive().optional(),
  maxAwaitDurationMs: z.number().int().nonnegative().optional(),
});
const SubMetadata = z.record(z.string(), MetadataScalar).default({});

export const SubscriptionV2File = z.strictObject({
  apiVersion: z.literal('dapr.io/v2alpha1'),
  kind: z.literal('Subscription'),
  metadata: ObjectMeta,
  spec: z.strictObject({
    pubsubname: z.string().min(1),
    topic: z.string().min(1),
    routes: z.strictObject({ rules: z.array(RouteRule).default([]), default: z.string().optional() }),
    deadLetterTopic: z.string().optional(),
    bulkSubscribe: BulkSubscribe.optional(),
    metadata: SubMetadata,
  }),
  scopes: z.array(AppId).default([]),
});

export const SubscriptionV1File = z.strictObject({
  apiVersion: z.literal('dapr.io/v1alpha1'),
  kind: z.literal('Subscription'),
  metadata: ObjectMeta,
  spec: z.strictObject({
    pubsubname: z.string().min(1),
    topic: z.string().min(1),
    route: z.string().min(1),
    deadLetterTopic: z.string().optional(),
    bulkSubscribe: BulkSubscribe.optional(),
    metadata: SubMetadata,
  }),
  scopes: z.array(AppId).default([]),
});

export type InlineComponentSpec = z.output<typeof InlineComponent>;
export type DaprSpec = z.output<typeof DaprBlock>;
export type MetadataItemSpec = z.output<typeof MetadataItem>;
