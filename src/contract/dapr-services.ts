// Which services use the building-block API, and with which components and subscriptions:
// scopes resolved per service (by app ID), the embedded defaults added where a kind is missing.
import type { AppSpec } from './schema.js';
import type { ComponentDecl, ComponentResources } from './components.js';
import { DEFAULT_MAX_REQUEST_BODY_MIB, DEFAULT_PUBSUB, DEFAULT_STATE_STORE } from './schema-components.js';
import type { Problem } from './problem.js';
import { didYouMean } from './errors.js';
import type { DaprServiceDecl } from '../lib/dapr-config.js';

export type { DaprServiceDecl };

function inScope(scopes: readonly string[], appId: string): boolean {
  return scopes.length === 0 || scopes.includes(appId);
}

/** The embedded defaults, their files under `.berth/` beside the spec. */
export function defaultComponents(berthDir: string): { state: ComponentDecl; pubsub: ComponentDecl } {
  const base = { version: 'v1', secretKeyRefs: {}, scopes: [], ignoreErrors: false };
  return {
    state: { ...base, ...DEFAULT_STATE_STORE, metadata: { connectionString: `${berthDir}/components/${DEFAULT_STATE_STORE.name}.db` } },
    pubsub: { ...base, ...DEFAULT_PUBSUB, metadata: { connectionString: `${berthDir}/components/${DEFAULT_PUBSUB.name}.db` } },
  };
}

/**
 * Per service: undefined when it does not use the API. A service uses it when it sets
 * `dapr.enabled: true`, or when a component is in its scope (unscoped components are in every
 * service's scope) and it does not set `dapr.enabled: false`.
 */
export function resolveDaprServices(
  spec: AppSpec,
  res: Pick<ComponentResources, 'components' | 'subscriptions'>,
  berthDir: string,
): { services: Record<string, DaprServiceDecl | undefined>; problems: Problem[]; warnings: Problem[] } {
  const problems: Problem[] = [];
  const warnings: Problem[] = [];
  const appIds = new Map<string, string>();
  for (const [name, svc] of Object.entries(spec.services)) {
    const appId = svc.dapr?.appId ?? name;
    const other = appIds.get(appId);
    if (other !== undefined) problems.push({ path: ['services', name, ...(svc.dapr?.appId ? ['dapr', 'appId'] : [])], message: `app ID \`${appId}\` is also the app ID of service \`${other}\``, hint: 'give each service its own dapr.appId' });
    else appIds.set(appId, name);
  }
  // Inline scopes naming no app ID (those in files are reported, at their line, by readComponentResources).
  for (const [name, c] of Object.entries(spec.components ?? {})) {
    c.scopes.forEach((s, i) => {
      if (appIds.has(s)) return;
      const close = didYouMean(s, appIds.keys());
      warnings.push({ path: ['components', name, 'scopes', i], message: `scope \`${s}\` is not the app ID of any service`, ...(close ? { hint: `did you mean \`${close}\`?` } : {}) });
    });
  }
  const defaults = defaultComponents(berthDir);
  const services: Record<string, DaprServiceDecl | undefined> = {};
  for (const [name, svc] of Object.entries(spec.services)) {
    const appId = svc.dapr?.appId ?? name;
    const mine = res.components.filter((c) => inScope(c.scopes, appId));
    const enabled = svc.dapr?.enabled ?? mine.length > 0;
    if (!enabled) {
      services[name] = undefined;
      continue;
    }
    const components = [...mine];
    const names = new Set(components.map((c) => c.name));
    if (!components.some((c) => c.type.startsWith('state.')) && !names.has(defaults.state.name)) components.push(defaults.state);
    if (!components.some((c) => c.type.startsWith('pubsub.')) && !names.has(defaults.pubsub.name)) components.push(defaults.pubsub);
    services[name] = {
      appId,
      apiToken: svc.dapr?.apiToken ?? false,
      maxRequestBodyMiB: svc.dapr?.maxRequestBodyMiB ?? DEFAULT_MAX_REQUEST_BODY_MIB,
      components,
      subscriptions: res.subscriptions.filter((s) => inScope(s.scopes, appId)),
    };
  }
  return { services, problems, warnings };
}
