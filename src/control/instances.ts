// Turns an instance record + its revision template into the InstanceSpec a node agent runs, and
// into the row `berth ps` shows. Per-instance values (address, ids) are added here, never hashed.
import type { InstanceObserved, InstanceSpec, InstanceStatus } from '../lib/agent-protocol.js';
import { LOG_AGENT_SIDECAR_NAME } from '../lib/log-agent-config.js';
import { PROXY_SIDECAR_NAME } from '../lib/mesh-protocol.js';
import type { InstanceTemplate } from '../plan/index.js';
import type { InstanceRecord } from './store.js';

/** The variant of a deployment: `orders.v2` → v2; a plain service name → default. */
export function variantOf(deployment: string): string {
  const dot = deployment.indexOf('.');
  return dot < 0 ? 'default' : deployment.slice(dot + 1);
}

/** Sidecars Berth adds itself (plan/platform-sidecars.ts): they run as Berth's user and get the instance's credential. */
const PLATFORM_SIDECARS = new Set([PROXY_SIDECAR_NAME, LOG_AGENT_SIDECAR_NAME]);

export function materialize(
  app: string,
  rec: InstanceRecord,
  template: InstanceTemplate,
  logDir: string,
  /** Added to every sidecar's environment, never the app's: the sidecars' scoped credential (see credentials.ts). */
  sidecarEnv: Record<string, string> = {},
  /** The user of the app's processes when the spec names none (`nobody` when Berth runs as root; docs/security.md). */
  defaultUser?: string,
): InstanceSpec {
  const user = template.main.user ?? defaultUser;
  const asUser = <T extends object>(p: T): T => (user !== undefined ? { ...p, user } : p);
  const perInstance = {
    HOST: rec.host,
    BERTH_INSTANCE: rec.id,
    BERTH_NODE: rec.node,
    BERTH_VARIANT: variantOf(rec.service),
  };
  // Kubernetes' dependent variables: `$(HOST)` etc. in a template value become this instance's value.
  const expand = (env: Record<string, string>): Record<string, string> => {
    const out: Record<string, string> = { ...env, ...perInstance };
    for (const [k, v] of Object.entries(out)) if (v.includes('$(')) out[k] = v.replace(/\$\((HOST|BERTH_INSTANCE|BERTH_NODE|BERTH_VARIANT)\)/g, (_m, name: keyof typeof perInstance) => perInstance[name]);
    return out;
  };
  return {
    id: rec.id,
    app,
    service: rec.service,
    revision: rec.revision,
    node: rec.node,
    host: rec.host,
    ...(template.port !== undefined ? { port: template.port } : {}),
    main: asUser({ ...template.main, env: expand(template.main.env) }),
    // Platform sidecars (proxy, log agent: they carry a credential and read .berth/) run as Berth; the spec's own sidecars as the app.
    sidecars: template.sidecars.map((s) => (PLATFORM_SIDECARS.has(s.name) ? { ...s, env: { ...expand(s.env), ...sidecarEnv } } : asUser({ ...s, env: expand(s.env) }))),
    probes: template.probes,
    restart: template.restart,
    ...(template.memoryMiB !== undefined ? { memoryMiB: template.memoryMiB } : {}),
    stopGracePeriodSeconds: template.stopGracePeriodSeconds,
    logDir,
  };
}

/** One line of `berth ps --json`. These names are a public contract. */
export interface PsRow {
  /** The deployment: the service name, or `<service>.<variant>` for a variant's instances. */
  service: string;
  /** The variant (`default` for the service's own instances). */
  variant: string;
  instance: string;
  revision: string;
  node: string;
  host: string;
  pid: number | null;
  status: InstanceStatus;
  ready: boolean;
  restarts: number;
  port: number | null;
  startedAt: string | null;
  message?: string;
  sidecars: { name: string; pid: number | null; state: string; restarts: number }[];
  lastExit?: { code: number | null; signal: string | null; reason: string; at: string };
  /** The instance's side in a release in progress (issue 14); absent otherwise. */
  release?: 'stable' | 'canary' | 'preview';
}

export function psRow(rec: InstanceRecord, observed: InstanceObserved | undefined, port: number | undefined, waitingFor?: string): PsRow {
  const obs = observed ?? (rec.phase === 'stopped' ? rec.lastObserved : undefined);
  let status: InstanceStatus;
  if (rec.phase === 'stopped') status = 'stopped';
  else if (rec.phase === 'terminating') status = obs ? 'stopping' : 'stopped';
  else status = obs?.status ?? 'pending';
  const running = rec.phase !== 'stopped' && obs !== undefined;
  const message = waitingFor ?? obs?.message;
  return {
    service: rec.service,
    variant: variantOf(rec.service),
    instance: rec.id,
    revision: rec.revision,
    node: rec.node,
    host: rec.host,
    pid: running ? (obs?.pid ?? null) : null,
    status,
    ready: rec.phase === 'active' && (obs?.ready ?? false),
    restarts: obs?.restarts ?? rec.lastObserved?.restarts ?? 0,
    port: port ?? null,
    startedAt: obs?.startedAt ?? null,
    ...(message ? { message } : {}),
    sidecars: (obs?.sidecars ?? []).map((s) => ({ name: s.name, pid: running ? (s.pid ?? null) : null, state: s.state, restarts: s.restarts })),
    ...(obs?.main.lastExit ? { lastExit: obs.main.lastExit } : {}),
  };
}

/** One process of `berth stats`: an instance's app or one of its sidecars, as its node last measured it. */
export interface StatsRow {
  service: string;
  instance: string;
  node: string;
  /** `app`, or the sidecar's name. */
  process: string;
  pid: number | null;
  /** CPU over the node's last sampling second; 100 = one core (as `docker stats`). Null until measured. */
  cpuPercent: number | null;
  memoryMiB: number | null;
}

/** The stats rows of one instance: its app, then its sidecars in their order. */
export function statsRows(row: PsRow, app: { cpuMillis: number; memoryMiB: number } | undefined, sidecars: Record<string, { cpuMillis: number; memoryMiB: number }> | undefined): StatsRow[] {
  const base = { service: row.service, instance: row.instance, node: row.node };
  const figures = (u: { cpuMillis: number; memoryMiB: number } | undefined) => ({ cpuPercent: u ? Math.round(u.cpuMillis) / 10 : null, memoryMiB: u ? u.memoryMiB : null });
  return [
    { ...base, process: 'app', pid: row.pid, ...figures(row.pid === null ? undefined : app) },
    ...row.sidecars.map((s) => ({ ...base, process: s.name, pid: s.pid, ...figures(s.pid === null ? undefined : sidecars?.[s.name]) })),
  ];
}
