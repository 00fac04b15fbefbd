// Render options: what differs between clusters rather than between apps — namespace, registry,
// Gateway class, storage class, where KEDA asks Prometheus, the probe profile, how secrets are
// delivered, default resources. Set in the spec's `kubernetes:` block or with `--set key=value`
// (which wins); every default is stated in docs/kubernetes.md. Pure: parsing and merging only.
export const PROBE_PROFILES = ['cluster', 'local'] as const;
export type ProbeProfile = (typeof PROBE_PROFILES)[number];
export const SECRET_MODES = ['kubernetes', 'external-secrets'] as const;
export type SecretMode = (typeof SECRET_MODES)[number];

export interface KubernetesOptions {
  /** Namespace written on every namespaced object; empty: none (the namespace of `kubectl apply`/`berth deploy`). */
  namespace: string;
  /** Registry prefix of built images (`registry.example.com/team`); empty: none. */
  registry: string;
  /** GatewayClass of the ingress Gateway. */
  gatewayClass: string;
  /** StorageClass of any PersistentVolumeClaim Berth renders; empty: the cluster's default class. */
  storageClass: string;
  /** Prometheus address KEDA queries for request-metric scaling. */
  prometheusUrl: string;
  /** `cluster`: probe timings in whole seconds with the same failure budget; `local`: each value rounded up on its own. */
  probeProfile: ProbeProfile;
  /** `kubernetes`: Secret objects; `external-secrets`: ExternalSecret references to `secretStore`. */
  secrets: SecretMode;
  /** The (Cluster)SecretStore ExternalSecrets read from. */
  secretStore: string;
  /** `SecretStore` or `ClusterSecretStore`. */
  secretStoreKind: string;
  /** CPU request, in millicores, of a service without `resources.cpuMillis`. */
  defaultCpuMillis: number;
  /** Memory request and limit, in MiB, of a service without `resources.memoryMiB`. */
  defaultMemoryMiB: number;
}

export const DEFAULT_OPTIONS: Readonly<KubernetesOptions> = {
  namespace: '',
  registry: '',
  gatewayClass: 'istio',
  storageClass: '',
  prometheusUrl: 'http://prometheus.istio-system.svc:9090',
  probeProfile: 'cluster',
  secrets: 'kubernetes',
  secretStore: 'default',
  secretStoreKind: 'ClusterSecretStore',
  defaultCpuMillis: 100,
  defaultMemoryMiB: 256,
};

export const OPTION_KEYS = Object.keys(DEFAULT_OPTIONS) as (keyof KubernetesOptions)[];

/** A render option that is not valid: the key and what is wrong with it. */
export class OptionError extends Error {}

const DNS_LABEL = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;
const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

function check(key: keyof KubernetesOptions, raw: unknown): string | number {
  const def = DEFAULT_OPTIONS[key];
  if (typeof def === 'number') {
    const n = typeof raw === 'number' ? raw : Number(raw);
    if (typeof raw === 'boolean' || raw === '' || !Number.isInteger(n) || n <= 0) throw new OptionError(`${key} must be a whole number greater than 0, not \`${String(raw)}\``);
    return n;
  }
  if (typeof raw !== 'string') throw new OptionError(`${key} must be a string, not \`${JSON.stringify(raw)}\``);
  if (key === 'probeProfile' && !(PROBE_PROFILES as readonly string[]).includes(raw)) throw new OptionError(`probeProfile must be one of ${PROBE_PROFILES.join(', ')}, not \`${raw}\``);
  if (key === 'secrets' && !(SECRET_MODES as readonly string[]).includes(raw)) throw new OptionError(`secrets must be one of ${SECRET_MODES.join(', ')}, not \`${raw}\``);
  if (key === 'secretStoreKind' && raw !== 'SecretStore' && raw !== 'ClusterSecretStore') throw new OptionError(`secretStoreKind must be SecretStore or ClusterSecretStore, not \`${raw}\``);
  if (key === 'storageClass' && raw !== '' && (raw.length > 253 || !DNS_SUBDOMAIN.test(raw))) throw new OptionError(`storageClass must be a StorageClass name (a DNS-1123 subdomain: lowercase letters, digits, '-', '.'), not \`${raw}\``);
  if (key === 'namespace' && raw !== '' && !DNS_LABEL.test(raw)) throw new OptionError(`namespace must be a DNS-1123 label (lowercase letters, digits, '-'), not \`${raw}\``);
  if (key === 'prometheusUrl' && !/^https?:\/\/[^\s/]+/.test(raw)) throw new OptionError(`prometheusUrl must be an http(s) URL, not \`${raw}\``);
  if (key === 'registry' && /[\s:]$|^\/|\/$|\s/.test(raw)) throw new OptionError(`registry must look like registry.example.com/team (no trailing /), not \`${raw}\``);
  return raw;
}

/** Merges the spec's `kubernetes:` block and then `--set` pairs onto the defaults; throws OptionError. */
export function resolveOptions(block: Readonly<Record<string, unknown>> | undefined, sets: readonly string[] = []): KubernetesOptions {
  const out: Record<string, unknown> = { ...DEFAULT_OPTIONS };
  const put = (key: string, value: unknown, where: string) => {
    if (!(OPTION_KEYS as string[]).includes(key)) throw new OptionError(`${where}: unknown option \`${key}\` (known: ${OPTION_KEYS.join(', ')})`);
    try {
      out[key] = check(key as keyof KubernetesOptions, value);
    } catch (err) {
      if (err instanceof OptionError) throw new OptionError(`${where}: ${err.message}`);
      throw err;
    }
  };
  for (const [k, v] of Object.entries(block ?? {})) if (v !== undefined) put(k, v, 'kubernetes');
  for (const pair of sets) {
    const eq = pair.indexOf('=');
    if (eq <= 0) throw new OptionError(`--set ${pair}: expected key=value`);
    put(pair.slice(0, eq), pair.slice(eq + 1), `--set ${pair.slice(0, eq)}`);
  }
  return out as unknown as KubernetesOptions;
}
