// Mesh settings: `mesh.accessLog: false` as an Istio Telemetry resource turning Envoy access
// logging off for this app's workloads only. At its default (on) nothing is rendered, so a cluster
// without Istio can take the manifests: the mesh's own setting applies (Istio's default is off —
// see docs/kubernetes.md). Gateway API has no standard for it: a warning when the spec turns it off.
import { appLabels } from './labels.js';
import type { AppContext, AppRenderer, K8sObject } from './types.js';

/** Mesh settings whose default (true) is Envoy's own behaviour (x-request-id, x-forwarded-for at the edge). */
const ENVOY_DEFAULTS = new Set(['requestId', 'forwardedFor']);

function render(ctx: AppContext): K8sObject[] {
  const mesh = (ctx.app as unknown as { mesh?: { accessLog?: boolean } & Record<string, unknown> }).mesh;
  const accessLog = mesh?.accessLog ?? true;
  // requestId and forwardedFor on (their defaults) are what Envoy does anyway: only turning them off is not rendered.
  const atDefault = (k: string): boolean => (ENVOY_DEFAULTS.has(k) && mesh?.[k] === true) || (k === 'trustedHops' && mesh?.[k] === 0);
  for (const key of Object.keys(mesh ?? {}).filter((k) => k !== 'accessLog' && !atDefault(k)).sort()) ctx.warn(`mesh.${key}`, 'not rendered yet for Kubernetes (no renderer handles this field)');
  if (accessLog) return [];
  if (ctx.mesh !== 'istio') {
    ctx.warn('mesh.accessLog', "with --mesh gateway-api, access logging is the mesh implementation's own setting: not rendered");
    return [];
  }
  return [
    {
      apiVersion: 'telemetry.istio.io/v1',
      kind: 'Telemetry',
      metadata: { name: `${ctx.app.app}-access-log`, labels: appLabels(ctx.app.app) },
      spec: {
        selector: { matchLabels: { 'app.kubernetes.io/part-of': ctx.app.app } },
        accessLogging: [{ providers: [{ name: 'envoy' }], disabled: true }],
      },
    },
  ];
}

export const meshSettingsRenderer: AppRenderer = { family: 'mesh', handles: ['mesh'], render };
