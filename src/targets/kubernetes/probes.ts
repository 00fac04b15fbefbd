// Probes: Berth's startup/readiness/liveness probes mapped field for field onto Kubernetes'
// (httpGet, tcpSocket, exec, grpc). Kubernetes takes whole seconds, so fractional timings are
// rounded up. With the `cluster` probe profile (the default) a sub-second period becomes a whole
// second with the failure threshold scaled so the failure budget (failureThreshold × periodSeconds)
// stays the same (never shorter); with `local` only the period is rounded and the budget grows.
// Either way a warning states the local and the cluster values. Berth's effective values (its period default is 1 s, Kubernetes' is 10 s) are always
// written out, so the cluster probes on the same schedule as the local runtime.
import type { ProbeSpec, ServiceSpec } from '../../contract/index.js';
import { noExpand } from './escape.js';
import type { ProbeProfile } from './options.js';
import type { JsonObject } from './types.js';

export const PROBE_KINDS = ['startup', 'readiness', 'liveness'] as const;
export type ProbeKind = (typeof PROBE_KINDS)[number];

const K8S_FIELD: Record<ProbeKind, string> = { startup: 'startupProbe', readiness: 'readinessProbe', liveness: 'livenessProbe' };

function wholeSeconds(value: number, min: number): number {
  return Math.max(min, Math.ceil(value - 1e-9));
}

function handler(probe: ProbeSpec, port: number | undefined, path: string, warn: (path: string, message: string) => void): JsonObject | undefined {
  const portOf = (p: number | undefined): number | undefined => p ?? port;
  if (probe.http) {
    const p = portOf(probe.http.port);
    if (p === undefined) return void warn(`${path}.http.port`, 'no port to probe (the service has no port): probe not rendered');
    const get: JsonObject = { path: probe.http.path, port: p, scheme: probe.http.scheme.toUpperCase() };
    const headers = Object.entries(probe.http.headers).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    if (headers.length) get.httpHeaders = headers.map(([name, value]) => ({ name, value }));
    return { httpGet: get };
  }
  if (probe.tcp) {
    const p = portOf(probe.tcp.port);
    if (p === undefined) return void warn(`${path}.tcp.port`, 'no port to probe (the service has no port): probe not rendered');
    return { tcpSocket: { port: p } };
  }
  if (probe.grpc) {
    const p = portOf(probe.grpc.port);
    if (p === undefined) return void warn(`${path}.grpc.port`, 'no port to probe (the service has no port): probe not rendered');
    return { grpc: probe.grpc.service !== undefined ? { port: p, service: probe.grpc.service } : { port: p } };
  }
  if (probe.exec) {
    const c = probe.exec.command;
    return { exec: { command: (Array.isArray(c) ? c : ['sh', '-c', c]).map(noExpand) } };
  }
  return undefined;
}

/** One probe as a Kubernetes Probe object (undefined when it cannot be rendered; a warning says why). */
export function renderProbe(
  kind: ProbeKind,
  probe: ProbeSpec,
  port: number | undefined,
  unitPath: string,
  warn: (path: string, message: string) => void,
  profile: ProbeProfile = 'cluster',
): JsonObject | undefined {
  const path = `${unitPath}.probes.${kind}`;
  const h = handler(probe, port, path, warn);
  if (!h) return undefined;
  // The cluster profile keeps the failure budget: a threshold over the whole-second period that covers the local window.
  const period = wholeSeconds(probe.periodSeconds, 1);
  const keepBudget = profile === 'cluster' && period !== probe.periodSeconds;
  const failureThreshold = keepBudget ? Math.max(1, Math.ceil((probe.failureThreshold * probe.periodSeconds) / period - 1e-9)) : probe.failureThreshold;
  const timing = (field: 'initialDelaySeconds' | 'periodSeconds' | 'timeoutSeconds', min: number): number => {
    const value = probe[field];
    const whole = wholeSeconds(value, min);
    if (whole !== value) {
      let message = `${value} s rounded up to ${whole} s (Kubernetes takes whole seconds)`;
      if (field === 'periodSeconds') {
        const local = probe.failureThreshold * value;
        const cluster = failureThreshold * whole;
        message +=
          ` (probe profile ${profile}): failureThreshold × periodSeconds = ${probe.failureThreshold} × ${value} s = ${+local.toFixed(3)} s locally, ` +
          `${failureThreshold} × ${whole} s = ${cluster} s on the cluster — ` +
          (cluster === +local.toFixed(3) ? 'the same failure budget, checked less often' :
          (kind === 'startup'
            ? 'the app gets longer to start before it is restarted'
            : kind === 'liveness'
              ? 'a hung instance is restarted later'
              : 'an unready instance leaves the endpoints later'));
      }
      warn(`${path}.${field}`, message);
    }
    return whole;
  };
  return {
    ...h,
    initialDelaySeconds: timing('initialDelaySeconds', 0),
    periodSeconds: timing('periodSeconds', 1),
    timeoutSeconds: timing('timeoutSeconds', 1),
    successThreshold: probe.successThreshold,
    failureThreshold,
  };
}

/** The container's probe fields (startupProbe, readinessProbe, livenessProbe). */
export function renderProbes(svc: ServiceSpec, unitPath: string, warn: (path: string, message: string) => void, profile: ProbeProfile = 'cluster'): JsonObject {
  const out: JsonObject = {};
  for (const kind of PROBE_KINDS) {
    const probe = svc.probes[kind];
    if (!probe || probe === 'none') continue;
    const rendered = renderProbe(kind, probe, svc.port, unitPath, warn, profile);
    if (rendered) out[K8S_FIELD[kind]] = rendered;
  }
  return out;
}
