// The diff reports the Recordings and replays view shows beside `berth replay` runs:
//  - shadow traffic: each mirroring proxy (a caller's sidecar, the gateway) counts mirrored answers
//    compared with the primary's and keeps its last differences at its admin GET /mesh/shadow; read
//    on demand (as `berth top` reads /mesh/stats) and summed per service and route;
//  - replay gates: the `replay` analysis measurements of each service's current release.
import { requestJson } from '../../lib/http.js';
import type { ControlPlane } from '../control-plane.js';
import type { Measurement } from '../release/analysis-run.js';
import type { StatsTarget } from './metric-history.js';

export interface ShadowFieldDiff {
  path: string;
  expected: string;
  actual: string;
}

export interface ShadowReport {
  /** Per destination service and route, summed over the proxies that mirror to it. */
  counts: { service: string; route: string; same: number; diff: number; error: number }[];
  /** The newest differences first (each proxy keeps its last 20). */
  recent: { at: string; proxy: string; service: string; route: string; method: string; path: string; fields: ShadowFieldDiff[] }[];
  /** Proxies read / proxies that did not answer. */
  proxies: number;
  unreachable: number;
}

interface ProxyShadow {
  counts: ShadowReport['counts'];
  recent: Omit<ShadowReport['recent'][number], 'proxy'>[];
}

const RECENT = 50;

export async function readShadow(targets: StatsTarget[]): Promise<ShadowReport> {
  const reads = await Promise.all(targets.map(async (t) => ({ t, answer: await requestJson<ProxyShadow>({ host: t.host, port: t.adminPort, timeoutMs: 1500 }, 'GET', '/mesh/shadow').catch(() => undefined) })));
  const counts = new Map<string, ShadowReport['counts'][number]>();
  const recent: ShadowReport['recent'] = [];
  let unreachable = 0;
  for (const { t, answer } of reads) {
    if (!answer || !Array.isArray(answer.counts) || !Array.isArray(answer.recent)) {
      unreachable++;
      continue;
    }
    for (const c of answer.counts) {
      const k = `${c.service}\u0000${c.route}`;
      const sum = counts.get(k) ?? { service: c.service, route: c.route, same: 0, diff: 0, error: 0 };
      sum.same += c.same;
      sum.diff += c.diff;
      sum.error += c.error;
      counts.set(k, sum);
    }
    for (const d of answer.recent) recent.push({ ...d, proxy: t.id });
  }
  recent.sort((a, b) => (a.at < b.at ? 1 : a.at > b.at ? -1 : 0));
  return { counts: [...counts.values()].sort((a, b) => a.service.localeCompare(b.service) || a.route.localeCompare(b.route)), recent: recent.slice(0, RECENT), proxies: targets.length, unreachable };
}

export interface ReplayGate {
  service: string;
  canaryRevision: string | null;
  /** The release's phase (Progressing, Paused, Aborted, Healthy…). */
  phase: string | null;
  run: string;
  /** `<template>.<metric>`. */
  metric: string;
  metricPhase: string;
  measurements: Measurement[];
}

/** The `replay` metrics (provider.replay in their template) of every service's current release. */
export function replayGates(plane: ControlPlane): ReplayGate[] {
  const desired = plane.desired();
  const templates = desired?.analysisTemplates ?? {};
  const isReplay = (name: string): boolean => {
    const dot = name.indexOf('.');
    const t = templates[name.slice(0, dot)];
    return !!t?.metrics.some((m) => m.name === name.slice(dot + 1) && m.provider.replay !== undefined);
  };
  const out: ReplayGate[] = [];
  for (const s of desired?.services ?? []) {
    if (s.name.includes('.') || !s.release || s.release.strategy === 'rolling') continue;
    let status;
    try {
      status = plane.releaseStatus(s.name);
    } catch {
      continue;
    }
    for (const run of status.analysisRuns)
      for (const m of run.metrics)
        if (isReplay(m.name)) out.push({ service: s.name, canaryRevision: status.canaryRevision, phase: status.phase, run: run.id, metric: m.name, metricPhase: m.phase, measurements: m.measurements });
  }
  return out;
}
