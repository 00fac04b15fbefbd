// Secrets on the cluster: the app's `secrets:` as Secret objects (or, with the render option
// `secrets: external-secrets`, as ExternalSecrets that fetch them from a SecretStore, so no value is
// ever in a rendered file), a service's `envFile` values as its own Secret (a dotenv file is where
// API keys live: never a ConfigMap), and each service's `secrets:` uses as secretKeyRef variables
// or read-only file mounts.
import { readSecret, secretFileEnv } from '../../contract/index.js';
import type { AppContext, AppRenderer, JsonObject, K8sObject, PodContribution, ServiceContext, ServiceRenderer } from './types.js';
import { appLabels } from './labels.js';

export const EXTERNAL_SECRET_API = 'external-secrets.io/v1';
/** The key each app secret's value is stored under in its Secret. */
export const SECRET_KEY = 'value';

export function envFileSecretName(deployment: string): string {
  return `${deployment}-env`;
}

const b64 = (s: string) => Buffer.from(s, 'utf8').toString('base64');
const sorted = <T>(rec: Record<string, T>) => Object.entries(rec).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));

function externalSecret(ctx: { options: ServiceContext['options'] }, name: string, labels: Record<string, string>, spec: JsonObject): K8sObject {
  return {
    apiVersion: EXTERNAL_SECRET_API,
    kind: 'ExternalSecret',
    metadata: { name, labels },
    spec: { refreshInterval: '1h', secretStoreRef: { name: ctx.options.secretStore, kind: ctx.options.secretStoreKind }, target: { name, creationPolicy: 'Owner' }, ...spec },
  };
}

/** The Secret (or ExternalSecret) holding a service's envFile variables, when it has one. */
export function envFileSecret(ctx: ServiceContext): K8sObject | undefined {
  if (!ctx.envFileVars) return undefined;
  const name = envFileSecretName(ctx.deployment);
  if (ctx.options.secrets === 'external-secrets') return externalSecret(ctx, name, ctx.labels, { dataFrom: [{ extract: { key: `${ctx.app.app}/${name}` } }] });
  return { apiVersion: 'v1', kind: 'Secret', metadata: { name, labels: ctx.labels }, type: 'Opaque', data: Object.fromEntries(sorted(ctx.envFileVars).map(([k, v]) => [k, b64(v)])) };
}

function renderAppSecrets(ctx: AppContext): K8sObject[] {
  const secrets = ctx.app.secrets ?? {};
  const labels = appLabels(ctx.app.app);
  return sorted(secrets).map(([name, src]): K8sObject => {
    if (ctx.options.secrets === 'external-secrets') return externalSecret(ctx, name, labels, { data: [{ secretKey: SECRET_KEY, remoteRef: { key: `${ctx.app.app}/${name}` } }] });
    let value: string | undefined;
    try {
      value = readSecret(name, src, ctx.dir);
    } catch (err) {
      ctx.warn(`secrets.${name}`, `${(err as Error).message}: the Secret is rendered without its value (pods using it will not start); provide it, or render with --secrets external-secrets`);
    }
    return { apiVersion: 'v1', kind: 'Secret', metadata: { name, labels }, type: 'Opaque', ...(value !== undefined ? { data: { [SECRET_KEY]: b64(value) } } : {}) };
  });
}

export const appSecretsRenderer: AppRenderer = { family: 'secrets', handles: ['secrets'], render: renderAppSecrets };

/** The variables and file mounts of a service's `secrets:` uses. */
function pod(ctx: Omit<ServiceContext, 'pod'>): PodContribution | undefined {
  const uses = ctx.spec.secrets ?? [];
  if (!uses.length) return undefined;
  const env: JsonObject[] = [];
  const volumes: JsonObject[] = [];
  const mounts: JsonObject[] = [];
  for (const u of uses) {
    if (u.env !== undefined) env.push({ name: u.env, valueFrom: { secretKeyRef: { name: u.name, key: SECRET_KEY } } });
    else if (u.file !== undefined) {
      const vol = `secret-${u.name}`;
      if (!volumes.some((v) => v.name === vol)) volumes.push({ name: vol, secret: { secretName: u.name, defaultMode: 0o440 } });
      mounts.push({ name: vol, mountPath: u.file, subPath: SECRET_KEY, readOnly: true });
      // The app finds the file as it does locally, where the node agent writes it elsewhere.
      env.push({ name: secretFileEnv(u.name), value: u.file });
    }
  }
  return { appEnv: env, volumes, appVolumeMounts: mounts };
}

export const serviceSecretsRenderer: ServiceRenderer = { family: 'secrets', scope: 'deployment', handles: ['secrets'], pod };
