import type { DaprProxyConfig } from '../../lib/dapr-config.js';
// The proxy's start-up configuration, from its environment (set by src/plan/sidecars/proxy.ts for a
// sidecar, by the control plane for the gateway). Everything that changes at run time (endpoints,
// routes, ingress) comes from snapshots instead.
export interface ProxyConfig {
  mode: 'sidecar' | 'gateway';
  stateDir: string;
  /** Instance id (or `berth-gateway`): names the snapshot file and the acknowledgements. */
  proxyId: string;
  app: string;
  /** The service this sidecar fronts (sidecar mode). */
  service: string;
  /** The instance's variant (BERTH_VARIANT). */
  variant: string;
  /** The instance's own loopback address. */
  host: string;
  /** Inbound: the service port on HOST (sidecar mode). */
  inboundPort?: number;
  /** Where the app listens on HOST (sidecar mode). */
  appPort?: number;
  /** Used service → local port on HOST. */
  outbound: { service: string; port: number }[];
  forwardProxyPort?: number;
  adminPort?: number;
  /** Longest time in-flight requests get after SIGTERM. */
  drainSeconds: number;
  /** The building-block API (Dapr-compatible), for services that use it. */
  dapr?: { config: DaprProxyConfig; port: number; apiToken?: string; appToken?: string };
}

export class ConfigError extends Error {}

function portOf(env: NodeJS.ProcessEnv, name: string): number | undefined {
  const v = env[name];
  if (v === undefined || v === '') return undefined;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1 || n > 65535) throw new ConfigError(`${name} must be a port number, got "${v}"`);
  return n;
}

export function loadConfig(env: NodeJS.ProcessEnv): ProxyConfig {
  const mode = env.BERTH_PROXY_MODE === 'gateway' ? 'gateway' : 'sidecar';
  const stateDir = env.BERTH_STATE_DIR;
  if (!stateDir) throw new ConfigError('BERTH_STATE_DIR is required (the .berth directory of the application)');
  const host = env.HOST ?? '127.0.0.1';
  const outbound = (env.BERTH_PROXY_OUTBOUND ?? '')
    .split(',')
    .filter(Boolean)
    .map((pair) => {
      const [service, port] = pair.split('=');
      const n = Number(port);
      if (!service || !Number.isInteger(n) || n < 1 || n > 65535) throw new ConfigError(`BERTH_PROXY_OUTBOUND: bad entry "${pair}" (want service=port)`);
      return { service, port: n };
    });
  const cfg: ProxyConfig = {
    mode,
    stateDir,
    proxyId: env.BERTH_INSTANCE ?? `proxy-${process.pid}`,
    app: env.BERTH_APP ?? '',
    service: env.BERTH_SERVICE ?? '',
    variant: env.BERTH_VARIANT ?? 'default',
    host,
    inboundPort: portOf(env, 'BERTH_PROXY_PORT'),
    appPort: portOf(env, 'BERTH_PROXY_APP_PORT'),
    outbound,
    forwardProxyPort: portOf(env, 'BERTH_PROXY_FORWARD_PORT'),
    adminPort: portOf(env, 'BERTH_PROXY_ADMIN_PORT'),
    drainSeconds: Number(env.BERTH_PROXY_DRAIN_SECONDS ?? 10) || 10,
  };
  const daprPort = portOf(env, 'BERTH_DAPR_HTTP_PORT');
  if (env.BERTH_DAPR && daprPort !== undefined) {
    let config: DaprProxyConfig;
    try {
      config = JSON.parse(env.BERTH_DAPR) as DaprProxyConfig;
    } catch (e) {
      throw new ConfigError(`BERTH_DAPR is not valid JSON: ${(e as Error).message}`);
    }
    cfg.dapr = { config, port: daprPort, ...(env.DAPR_API_TOKEN ? { apiToken: env.DAPR_API_TOKEN } : {}), ...(env.APP_API_TOKEN ? { appToken: env.APP_API_TOKEN } : {}) };
  }
  // Without them the sidecar serves only the building-block API (a service without a port).
  if (mode === 'sidecar' && (cfg.inboundPort === undefined || cfg.appPort === undefined) && !cfg.dapr) throw new ConfigError('a sidecar needs BERTH_PROXY_PORT and BERTH_PROXY_APP_PORT');
  return cfg;
}
