// Rules that relate fields and services to each other, checked on the raw (merged) data so
// they are reported together with the schema's per-field problems: references between services,
// dependency cycles, port clashes, probe handlers and their ports, splittable commands, files
// that must exist.
import { existsSync, statSync } from 'node:fs';
import { resolve } from 'node:path';
import type { PathSeg } from './positions.js';
import type { Problem } from './problem.js';
import { didYouMean, listAnd, listOr } from './errors.js';
import { isPlainObject } from './shape.js';
import { trySplitCommand } from './command.js';
import { PROBE_HANDLERS } from './schema.js';
import { checkMesh } from './semantic-mesh.js';
import { checkReleases } from './semantic-release.js';
import { ADDRESSES_PER_NODE } from './bounded.js';
import { checkSecrets } from './secrets.js';
import { checkVolumes } from './volumes.js';

export interface SemanticResult {
  errors: Problem[];
  warnings: Problem[];
}

const PROBE_KINDS = ['startup', 'readiness', 'liveness'] as const;

function isPort(v: unknown): v is number {
  return typeof v === 'number' && Number.isInteger(v) && v >= 1 && v <= 65535;
}

function unknownServiceHint(name: string, known: string[]): string {
  const close = didYouMean(name, known);
  if (close !== undefined) return `did you mean \`${close}\`?`;
  return known.length > 0 ? `known services: ${listOr(known)}` : 'no services are declared';
}

function checkCommand(value: unknown, path: PathSeg[], errors: Problem[]): void {
  if (Array.isArray(value)) {
    if (value[0] === '') errors.push({ path: [...path, 0], message: 'the program name (first argument) is empty' });
    return;
  }
  if (typeof value !== 'string' || value === '') return; // type problems come from the schema
  const r = trySplitCommand(value);
  if (!r.ok) errors.push({ path, message: r.message, hint: r.hint });
}

function isZero(v: unknown): boolean {
  return v === 0 || v === '0%';
}

/** Checks the rules between fields; `dir` is the spec file's directory (for envFile). */
export function checkSemantics(data: unknown, dir: string): SemanticResult {
  const errors: Problem[] = [];
  const warnings: Problem[] = [];
  if (!isPlainObject(data) || !isPlainObject(data.services)) return { errors, warnings };
  const services = data.services;
  const names = Object.keys(services);
  const portOwner = new Map<number, string>();
  const edges = new Map<string, { to: string; path: PathSeg[] }[]>();

  for (const [name, svc] of Object.entries(services)) {
    if (!isPlainObject(svc)) continue;
    const base: PathSeg[] = ['services', name];
    checkCommand(svc.run, [...base, 'run'], errors);

    if (isPort(svc.port)) {
      const first = portOwner.get(svc.port);
      if (first !== undefined) {
        errors.push({
          path: [...base, 'port'],
          message: `port ${svc.port} is already used by service \`${first}\``,
          hint: 'every service needs its own port',
        });
      } else portOwner.set(svc.port, name);
    }

    if (typeof svc.envFile === 'string' && svc.envFile !== '') {
      const p = resolve(dir, svc.envFile);
      let ok = false;
      try {
        ok = statSync(p).isFile();
      } catch {
        // a missing or unreadable envFile is reported just below (ok stays false)
      }
      if (!ok) {
        errors.push({
          path: [...base, 'envFile'],
          message: `envFile not found: ${p}`,
          hint: "create the file, or fix the path (it is relative to the spec file's directory)",
        });
      }
    }
    if (typeof svc.cwd === 'string' && svc.cwd !== '' && !existsSync(resolve(dir, svc.cwd))) {
      warnings.push({ path: [...base, 'cwd'], message: `directory not found: ${resolve(dir, svc.cwd)}` });
    }

    // uses
    if (Array.isArray(svc.uses)) {
      svc.uses.forEach((u, i) => {
        if (typeof u !== 'string') return;
        const p = [...base, 'uses', i];
        const target = services[u];
        if (!(u in services)) {
          errors.push({ path: p, message: `unknown service \`${u}\``, hint: unknownServiceHint(u, names.filter((n) => n !== name)) });
        } else if (isPlainObject(target) && target.port === undefined) {
          errors.push({ path: p, message: `service \`${u}\` has no port, so \`${name}\` cannot use it`, hint: `give \`${u}\` a \`port\`` });
        }
      });
    }

    // dependsOn (a mapping name → condition, or a list of names)
    const deps: { to: string; path: PathSeg[] }[] = [];
    if (Array.isArray(svc.dependsOn)) {
      svc.dependsOn.forEach((d, i) => {
        if (typeof d === 'string') deps.push({ to: d, path: [...base, 'dependsOn', i] });
      });
    } else if (isPlainObject(svc.dependsOn)) {
      for (const d of Object.keys(svc.dependsOn)) deps.push({ to: d, path: [...base, 'dependsOn', d] });
    }
    const mode = Array.isArray(svc.dependsOn) ? 'value' : 'key';
    if (isPlainObject(svc.dependsOn)) {
      for (const [d, cond] of Object.entries(svc.dependsOn)) {
        const target = services[d];
        if (cond === 'ready' && isPlainObject(target) && target.replicas === 0) {
          warnings.push({ path: [...base, 'dependsOn', d], message: `\`${d}\` has replicas: 0, so it never becomes ready and \`${name}\` will wait for it` });
        }
      }
    }
    const goodDeps: { to: string; path: PathSeg[] }[] = [];
    for (const d of deps) {
      if (d.to === name) errors.push({ path: d.path, mode, message: `service \`${name}\` depends on itself`, hint: 'remove this entry' });
      else if (!(d.to in services))
        errors.push({ path: d.path, mode, message: `unknown service \`${d.to}\``, hint: unknownServiceHint(d.to, names.filter((n) => n !== name)) });
      else goodDeps.push(d);
    }
    edges.set(name, goodDeps);

    // sidecars
    if (Array.isArray(svc.sidecars)) {
      const seen = new Set<string>();
      svc.sidecars.forEach((sc, i) => {
        if (!isPlainObject(sc)) return;
        const p: PathSeg[] = [...base, 'sidecars', i];
        checkCommand(sc.run, [...p, 'run'], errors);
        if (typeof sc.name !== 'string') return;
        if (sc.name === 'app') errors.push({ path: [...p, 'name'], message: 'the sidecar name `app` is reserved for the service itself', hint: 'choose another name' });
        else if (seen.has(sc.name)) errors.push({ path: [...p, 'name'], message: `duplicate sidecar name \`${sc.name}\``, hint: 'sidecar names must be unique within a service' });
        seen.add(sc.name);
      });
    }

    // probes
    if (isPlainObject(svc.probes)) {
      for (const kind of PROBE_KINDS) {
        const probe = svc.probes[kind];
        if (!isPlainObject(probe)) continue;
        const p: PathSeg[] = [...base, 'probes', kind];
        const handlers = PROBE_HANDLERS.filter((h) => probe[h] !== undefined);
        if (handlers.length === 0) {
          errors.push({ path: p, message: `the ${kind} probe has no handler`, hint: 'give exactly one of `http`, `tcp`, `exec` or `grpc`, e.g. `http: { path: /healthz }`' });
        } else if (handlers.length > 1) {
          errors.push({
            path: [...p, handlers[1]],
            mode: 'key',
            message: `a probe takes exactly one handler, but this one has ${listAnd(handlers)}`,
            hint: 'keep one of them',
          });
        }
        for (const h of handlers) {
          const handler = probe[h];
          if (h === 'exec') {
            if (isPlainObject(handler)) checkCommand(handler.command, [...p, 'exec', 'command'], errors);
            continue;
          }
          if (isPlainObject(handler) && handler.port === undefined && svc.port === undefined) {
            errors.push({
              path: [...p, h],
              message: `the ${kind} probe has no port to check: neither the probe nor the service sets one`,
              hint: `set \`port\` on the service, or \`port\` under \`${h}\``,
            });
          }
        }
      }
    }

    // restart backoff
    const restart = svc.restart;
    if (isPlainObject(restart) && isPlainObject(restart.backoff)) {
      const b = restart.backoff;
      const initial = typeof b.initialSeconds === 'number' ? b.initialSeconds : 0.5;
      const max = typeof b.maxSeconds === 'number' ? b.maxSeconds : 30;
      if (initial > 0 && max > 0 && max < initial) {
        errors.push({
          path: [...base, 'restart', 'backoff', b.maxSeconds !== undefined ? 'maxSeconds' : 'initialSeconds'],
          message: `maxSeconds (${max}) must not be less than initialSeconds (${initial})`,
        });
      }
    }

    // rollout
    if (isPlainObject(svc.rollout)) {
      const surge = svc.rollout.maxSurge ?? 1;
      const unavailable = svc.rollout.maxUnavailable ?? 0;
      if (isZero(surge) && isZero(unavailable)) {
        errors.push({
          path: [...base, 'rollout', svc.rollout.maxSurge !== undefined ? 'maxSurge' : 'maxUnavailable'],
          message: 'maxSurge and maxUnavailable cannot both be 0: a rollout could never make progress',
          hint: 'set maxSurge to 1 (the default) or maxUnavailable above 0',
        });
      }
    }
  }

  checkNodes(data, services, errors, warnings);
  checkScale(services, errors);
  checkMesh(data, services, errors, warnings);
  checkReleases(data, services, errors, warnings);
  checkAddresses(data, services, errors);
  checkSharedLogFiles(services, warnings);
  checkVolumes(services, errors);

  // dependsOn cycles: report each cycle once, at the entry that closes it
  const state = new Map<string, 'visiting' | 'done'>();
  const stack: string[] = [];
  const reported = new Set<string>();
  const visit = (n: string): void => {
    state.set(n, 'visiting');
    stack.push(n);
    for (const e of edges.get(n) ?? []) {
      const s = state.get(e.to);
      if (s === 'visiting') {
        const cycle = stack.slice(stack.indexOf(e.to));
        const key = [...cycle].sort().join(',');
        if (!reported.has(key)) {
          reported.add(key);
          errors.push({
            path: e.path,
            mode: Array.isArray((services[n] as Record<string, unknown>).dependsOn) ? 'value' : 'key',
            message: `dependsOn cycle: ${[...cycle, e.to].join(' → ')}`,
            hint: 'remove one of these dependencies',
          });
        }
      } else if (s === undefined) visit(e.to);
    }
    stack.pop();
    state.set(n, 'done');
  };
  for (const n of names) if (!state.has(n)) visit(n);

  checkSecrets(data, dir, errors, warnings);
  return { errors, warnings };
}

/**
 * `logs.files` of a service with several instances: a path without ${BERTH_INSTANCE} is one file for
 * the whole service (read once, records without an instance), which is rarely what replicas writing
 * their own logs want.
 */
function checkSharedLogFiles(services: Record<string, unknown>, warnings: Problem[]): void {
  for (const [name, svc] of Object.entries(services)) {
    if (!isPlainObject(svc) || !isPlainObject(svc.logs) || !Array.isArray(svc.logs.files)) continue;
    const scaleMax = isPlainObject(svc.scale) && typeof svc.scale.max === 'number' ? svc.scale.max : 0;
    const instances = Math.max(typeof svc.replicas === 'number' ? svc.replicas : 1, scaleMax);
    if (instances <= 1) continue;
    svc.logs.files.forEach((f, i) => {
      if (typeof f !== 'string' || f.includes('${BERTH_INSTANCE}')) return;
      warnings.push({
        path: ['services', name, 'logs', 'files', i],
        message: `\`${f}\` is shared by the ${instances} instances of \`${name}\`: it is read once for the service and its records name no instance`,
        hint: 'if each instance writes its own file, put ${BERTH_INSTANCE} in its path (e.g. logs/app-${BERTH_INSTANCE}.log)',
      });
    });
  }
}

/** Node names are unique; a nodeSelector that no declared node satisfies is a warning (instances would stay pending). */
function checkNodes(data: Record<string, unknown>, services: Record<string, unknown>, errors: Problem[], warnings: Problem[]): void {
  const labelsOf: Record<string, string>[] = [];
  if (Array.isArray(data.nodes)) {
    const seen = new Set<string>();
    data.nodes.forEach((n, i) => {
      if (!isPlainObject(n)) return;
      if (typeof n.name === 'string') {
        if (seen.has(n.name)) errors.push({ path: ['nodes', i, 'name'], message: `duplicate node name \`${n.name}\``, hint: 'node names must be unique' });
        seen.add(n.name);
      }
      labelsOf.push(isPlainObject(n.labels) ? (n.labels as Record<string, string>) : {});
    });
  } else {
    const count = typeof data.nodes === 'number' ? data.nodes : 1;
    for (let i = 0; i < count; i++) labelsOf.push({});
  }
  for (const [name, svc] of Object.entries(services)) {
    if (!isPlainObject(svc) || !isPlainObject(svc.placement) || !isPlainObject(svc.placement.nodeSelector)) continue;
    const selector = Object.entries(svc.placement.nodeSelector);
    if (selector.length === 0) continue;
    if (!labelsOf.some((labels) => selector.every(([k, v]) => labels[k] === v))) {
      warnings.push({
        path: ['services', name, 'placement', 'nodeSelector'],
        message: 'no declared node carries all these labels: instances will stay pending',
        hint: 'add the labels to a node under `nodes:` or change the selector',
      });
    }
  }
}

/** `scale`: a sane range, idleSeconds only with min 0, and resource metrics need the resource they are a percentage of. */
function checkScale(services: Record<string, unknown>, errors: Problem[]): void {
  for (const [name, svc] of Object.entries(services)) {
    if (!isPlainObject(svc) || !isPlainObject(svc.scale)) continue;
    const sc = svc.scale;
    const base: PathSeg[] = ['services', name, 'scale'];
    const min = typeof sc.min === 'number' ? sc.min : 1;
    if (typeof sc.max === 'number' && sc.max < min) errors.push({ path: [...base, 'max'], message: `max (${sc.max}) is below min (${min})`, hint: 'raise max or lower min' });
    if (sc.idleSeconds !== undefined && min !== 0) errors.push({ path: [...base, 'idleSeconds'], mode: 'key', message: 'idleSeconds only applies with min: 0 (scale to zero)', hint: 'set min: 0 or remove idleSeconds' });
    if (sc.activationTimeoutSeconds !== undefined && min !== 0)
      errors.push({ path: [...base, 'activationTimeoutSeconds'], mode: 'key', message: 'activationTimeoutSeconds only applies with min: 0 (scale to zero)', hint: 'set min: 0 or remove activationTimeoutSeconds' });
    // A service at zero is woken by a request the mesh holds, so it must be reachable through the mesh.
    if (min === 0 && svc.port === undefined) errors.push({ path: [...base, 'min'], message: 'scale to zero (min: 0) needs a port: the first request through the mesh is what starts an instance again', hint: 'add port: … or use min: 1' });
    const resources = isPlainObject(svc.resources) ? svc.resources : {};
    if (Array.isArray(sc.metrics)) {
      sc.metrics.forEach((m, i) => {
        if (!isPlainObject(m)) return;
        if ('cpuPercent' in m && resources.cpuMillis === undefined)
          errors.push({ path: [...base, 'metrics', i, 'cpuPercent'], message: 'cpuPercent is a percentage of resources.cpuMillis, which this service does not set', hint: 'add resources: { cpuMillis: … } or scale on rps/concurrency' });
        if ('memoryPercent' in m && resources.memoryMiB === undefined)
          errors.push({ path: [...base, 'metrics', i, 'memoryPercent'], message: 'memoryPercent is a percentage of resources.memoryMiB, which this service does not set', hint: 'add resources: { memoryMiB: … }' });
      });
    }
  }
}

/**
 * Every instance needs its own address and a node offers ADDRESSES_PER_NODE of them: a spec that
 * asks for more instances than its nodes can address would leave some pending forever.
 */
function checkAddresses(data: Record<string, unknown>, services: Record<string, unknown>, errors: Problem[]): void {
  const nodes = typeof data.nodes === 'number' ? data.nodes : Array.isArray(data.nodes) ? data.nodes.length : 1;
  if (!Number.isInteger(nodes) || nodes < 1) return; // the schema reports it
  const most = (svc: Record<string, unknown>, fallback: number): number => {
    const replicas = typeof svc.replicas === 'number' ? svc.replicas : fallback;
    const max = isPlainObject(svc.scale) && typeof svc.scale.max === 'number' ? svc.scale.max : 0;
    return Math.max(replicas, max);
  };
  let total = 0;
  for (const svc of Object.values(services)) {
    if (!isPlainObject(svc)) continue;
    total += most(svc, 1);
    if (isPlainObject(svc.variants)) for (const v of Object.values(svc.variants)) if (isPlainObject(v)) total += most({ ...svc, replicas: 1, ...v }, 1);
  }
  const capacity = nodes * ADDRESSES_PER_NODE;
  if (Number.isFinite(total) && total > capacity) {
    errors.push({
      path: ['services'],
      mode: 'key',
      message: `the services ask for up to ${total} instances, but ${nodes} node${nodes === 1 ? '' : 's'} offer${nodes === 1 ? 's' : ''} ${capacity} instance addresses (${ADDRESSES_PER_NODE} per node)`,
      hint: 'lower replicas (or scale.max), or declare more nodes',
    });
  }
}
