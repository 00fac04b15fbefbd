// The building-block API on a cluster: real Dapr serves it. Each service that uses it gets Dapr's
// sidecar-injector annotations on its pods (dapr.io/enabled, app-id, app-port, http-max-request-size,
// api-token-secret), and the app's components and subscriptions become Dapr's own Component and
// Subscription resources — the same files, with values that came from secrets turned into Secret
// references. The embedded defaults have no cluster counterpart: they render as Dapr's in-memory
// components, with a warning naming the real ones to configure.
import { join } from 'node:path';
import { readComponentResources, resolveDaprServices, type ComponentDecl, type DaprServiceDecl, type SubscriptionDecl } from '../../contract/index.js';
import { appLabels } from './labels.js';
import { SECRET_KEY } from './secrets.js';
import type { AppContext, AppRenderer, JsonObject, K8sObject, PodContribution, ServiceContext, ServiceRenderer } from './types.js';

/** Metadata fields whose inline values are credentials: rendered into a Secret, referenced by secretKeyRef. */
const SECRET_FIELD = /password|token|secret|connectionstring|accesskey|apikey|^auth/i;

/** Components and per-service API declarations, as the local runtime resolves them (embedded defaults included). */
function resolve(app: AppContext['app'], dir: string): { components: ComponentDecl[]; subscriptions: SubscriptionDecl[]; services: Record<string, DaprServiceDecl | undefined> } {
  const res = readComponentResources(app, dir);
  const { services } = resolveDaprServices(app, res, join(dir, '.berth'));
  return { components: res.components, subscriptions: res.subscriptions, services };
}

export function daprApiTokenSecret(app: string, appId: string): string {
  return `${app}-${appId}-dapr-api-token`;
}

function pod(ctx: Omit<ServiceContext, 'pod'>): PodContribution | undefined {
  const d = resolve(ctx.app, ctx.dir).services[ctx.name];
  if (!d) return undefined;
  const annotations: Record<string, string> = { 'dapr.io/enabled': 'true', 'dapr.io/app-id': d.appId };
  if (ctx.spec.port !== undefined) annotations['dapr.io/app-port'] = String(ctx.spec.port);
  if (d.maxRequestBodyMiB !== 4) annotations['dapr.io/http-max-request-size'] = String(Math.ceil(d.maxRequestBodyMiB));
  if (d.apiToken) {
    const secret = daprApiTokenSecret(ctx.app.app, d.appId);
    annotations['dapr.io/api-token-secret'] = secret;
    ctx.warn(`${ctx.path}.dapr.apiToken`, `create Secret ${secret} with a random \`token\` key before deploying (Dapr's sidecar and the app read it); Berth does not render token values`);
  }
  return { annotations };
}

export const daprRenderer: ServiceRenderer = { family: 'dapr', scope: 'deployment', handles: ['dapr'], pod };

interface Rendered {
  objects: K8sObject[];
}

/** One Component: the cluster form of a local component (embedded types replaced, credentials moved to a Secret). */
function component(ctx: AppContext, c: ComponentDecl, isDefault: boolean, out: Rendered): void {
  const labels = { ...appLabels(ctx.app.app), 'app.kubernetes.io/name': c.name, 'app.kubernetes.io/component': 'dapr-component' };
  const where = c.declaredAt ? `${c.declaredAt.file}:${c.declaredAt.line}` : isDefault ? `the embedded default \`${c.name}\`` : `components.${c.name}`;
  const path = isDefault ? `components.${c.name}` : c.declaredAt ? `componentsPath` : `components.${c.name}`;
  let type = c.type;
  let metadata: Record<string, string> = { ...c.metadata };
  if (c.type === 'state.sqlite') {
    type = 'state.in-memory';
    metadata = {};
    ctx.warn(path, `${where} (state.sqlite, a file beside the spec) renders as state.in-memory: each pod's sidecar has its own and loses it on restart — declare a real store named \`${c.name}\` (state.redis or state.postgresql)`);
  } else if (c.type === 'pubsub.sqlite') {
    type = 'pubsub.in-memory';
    metadata = {};
    ctx.warn(path, `${where} (Berth's embedded durable pub/sub) renders as pubsub.in-memory: messages stay inside one pod and are lost on restart — declare a real broker named \`${c.name}\` (pubsub.redis, pubsub.rabbitmq or pubsub.jetstream)`);
  } else if (c.type === 'secretstores.local.file' || c.type === 'secretstores.local.env') {
    ctx.warn(path, `${where} (${c.type}) reads the pod's own files or environment on a cluster; Dapr's built-in \`kubernetes\` secret store reads Secrets`);
  } else if (c.type.endsWith('.in-memory')) {
    ctx.warn(path, `${where} (${c.type}) keeps its data inside each pod's sidecar on a cluster too`);
  }
  const items: JsonObject[] = [];
  const secretData: Record<string, string> = {};
  const secretName = `${c.name}-dapr-component`;
  for (const [name, value] of Object.entries(metadata).sort(([a], [b]) => (a < b ? -1 : 1))) {
    if (SECRET_FIELD.test(name) && value !== '') {
      secretData[name] = Buffer.from(value, 'utf8').toString('base64');
      items.push({ name, secretKeyRef: { name: secretName, key: name } });
    } else items.push({ name, value });
  }
  for (const [name, ref] of Object.entries(c.secretKeyRefs).sort(([a], [b]) => (a < b ? -1 : 1))) {
    // Without auth.secretStore the reference names one of the spec's secrets, rendered as a Secret of that name (key `value`).
    items.push({ name, secretKeyRef: c.secretStore ? { name: ref.name, key: ref.key } : { name: ref.name, key: SECRET_KEY } });
  }
  if (Object.keys(secretData).length) out.objects.push({ apiVersion: 'v1', kind: 'Secret', metadata: { name: secretName, labels }, type: 'Opaque', data: secretData });
  out.objects.push({
    apiVersion: 'dapr.io/v1alpha1',
    kind: 'Component',
    metadata: { name: c.name, labels },
    spec: { type, version: c.version, metadata: items, ...(c.ignoreErrors ? { ignoreErrors: true } : {}), ...(c.initTimeout ? { initTimeout: c.initTimeout } : {}) },
    ...(c.secretStore ? { auth: { secretStore: c.secretStore } } : {}),
    ...(c.scopes.length ? { scopes: [...c.scopes] } : {}),
  });
}

function subscription(ctx: AppContext, s: SubscriptionDecl): K8sObject {
  return {
    apiVersion: 'dapr.io/v2alpha1',
    kind: 'Subscription',
    metadata: { name: s.name, labels: { ...appLabels(ctx.app.app), 'app.kubernetes.io/name': s.name, 'app.kubernetes.io/component': 'dapr-subscription' } },
    spec: {
      pubsubname: s.pubsubname,
      topic: s.topic,
      routes: { rules: s.routes.rules.map((r) => ({ match: r.match, path: r.path })), ...(s.routes.default !== undefined ? { default: s.routes.default } : {}) },
      ...(s.deadLetterTopic !== undefined ? { deadLetterTopic: s.deadLetterTopic } : {}),
      ...(s.bulkSubscribe ? { bulkSubscribe: { ...s.bulkSubscribe } } : {}),
      ...(Object.keys(s.metadata).length ? { metadata: { ...s.metadata } } : {}),
    },
    ...(s.scopes.length ? { scopes: [...s.scopes] } : {}),
  };
}

function render(ctx: AppContext): K8sObject[] {
  const r = resolve(ctx.app, ctx.dir);
  const out: Rendered = { objects: [] };
  const declared = new Set(r.components.map((c) => c.name));
  for (const c of r.components) component(ctx, c, false, out);
  // The embedded defaults some service gets, once each, scoped to the services that get them.
  const defaults = new Map<string, { c: ComponentDecl; appIds: string[] }>();
  for (const d of Object.values(r.services)) {
    for (const c of d?.components ?? []) {
      if (declared.has(c.name)) continue;
      const e = defaults.get(c.name) ?? { c, appIds: [] };
      e.appIds.push(d!.appId);
      defaults.set(c.name, e);
    }
  }
  for (const { c, appIds } of defaults.values()) component(ctx, { ...c, scopes: appIds.sort() }, true, out);
  for (const s of r.subscriptions) out.objects.push(subscription(ctx, s));
  return out.objects;
}

export const daprComponentsRenderer: AppRenderer = { family: 'dapr', handles: ['components', 'componentsPath'], render };
