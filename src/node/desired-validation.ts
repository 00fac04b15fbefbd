// Validates a PUT /desired body into AgentDesired, with errors that name the offending field.
// Numeric limits come from the table the spec schema uses too (src/lib/bounds.ts): whatever
// `berth validate` accepts, the agent accepts.
import { BOUNDS, badHeaderName, badHeaderValue, badRequestPath, outOfBounds, type Bound } from '../lib/bounds.js';
import type { AgentDesired, InstanceSpec, ProbeConfig, ProbeHandler, ProcessTemplate, RestartConfig, SecretFile, ServiceForward, VolumeDir } from '../lib/agent-protocol.js';

export class DesiredValidationError extends Error {}

type Obj = Record<string, unknown>;

function fail(path: string, what: string): never {
  throw new DesiredValidationError(`${path}: ${what}`);
}

function obj(v: unknown, path: string): Obj {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) fail(path, 'must be an object');
  return v as Obj;
}

function str(o: Obj, key: string, path: string, allowEmpty = false): string {
  const v = o[key];
  if (typeof v !== 'string' || (!allowEmpty && v.length === 0)) fail(`${path}.${key}`, 'must be a non-empty string');
  return v;
}

function num(o: Obj, key: string, path: string, opts: { min?: number; integer?: boolean; optional?: boolean; fallback?: number } = {}): number {
  const v = o[key];
  if (v === undefined && opts.fallback !== undefined) return opts.fallback;
  if (typeof v !== 'number' || !Number.isFinite(v)) fail(`${path}.${key}`, 'must be a finite number');
  if (opts.integer && !Number.isInteger(v)) fail(`${path}.${key}`, 'must be an integer');
  if (opts.min !== undefined && v < opts.min) fail(`${path}.${key}`, `must be >= ${opts.min}`);
  return v;
}

/** A number within one of the shared bounds (the schema's own), or `fallback` when absent. */
function bounded(o: Obj, key: string, path: string, bound: Bound, fallback?: number): number {
  const v = o[key];
  if (v === undefined && fallback !== undefined) return fallback;
  if (typeof v !== 'number') fail(`${path}.${key}`, 'must be a number');
  const why = outOfBounds(v, bound);
  if (why !== undefined) fail(`${path}.${key}`, why);
  return v;
}

function port(o: Obj, key: string, path: string): number {
  return bounded(o, key, path, BOUNDS.port);
}

function headerName(v: string, path: string): string {
  const why = badHeaderName(v);
  if (why !== undefined) fail(path, why);
  return v;
}

function headerValue(v: string, path: string): string {
  const why = badHeaderValue(v);
  if (why !== undefined) fail(path, why);
  return v;
}

function arr(v: unknown, path: string): unknown[] {
  if (!Array.isArray(v)) fail(path, 'must be an array');
  return v;
}

function stringArray(v: unknown, path: string, nonEmpty: boolean): string[] {
  const a = arr(v, path);
  a.forEach((s, i) => {
    if (typeof s !== 'string') fail(`${path}[${i}]`, 'must be a string');
  });
  if (nonEmpty && a.length === 0) fail(path, 'must not be empty');
  return a as string[];
}

function template(v: unknown, path: string): ProcessTemplate {
  const o = obj(v, path);
  const env = obj(o.env ?? {}, `${path}.env`);
  for (const [k, val] of Object.entries(env)) if (typeof val !== 'string') fail(`${path}.env.${k}`, 'must be a string');
  const t: ProcessTemplate = { name: str(o, 'name', path), argv: stringArray(o.argv, `${path}.argv`, true), cwd: str(o, 'cwd', path), env: env as Record<string, string> };
  if (o.memoryMiB !== undefined && o.memoryMiB !== null) t.memoryMiB = bounded(o, 'memoryMiB', path, BOUNDS.memoryMiB);
  if (o.listenPort !== undefined && o.listenPort !== null) t.listenPort = port(o, 'listenPort', path);
  if (o.user !== undefined && o.user !== null) t.user = str(o, 'user', path);
  if (o.secretFiles !== undefined && o.secretFiles !== null) t.secretFiles = secretFiles(o.secretFiles, `${path}.secretFiles`);
  if (o.volumes !== undefined && o.volumes !== null) t.volumes = volumeDirs(o.volumes, `${path}.volumes`);
  return t;
}

/** A volume's directory: an absolute path (the agent also checks it lies under its state directory). */
function volumeDirs(v: unknown, path: string): VolumeDir[] {
  return arr(v, path).map((x, i) => {
    const p = `${path}[${i}]`;
    const o = obj(x, p);
    const d: VolumeDir = { name: str(o, 'name', p), dir: str(o, 'dir', p) };
    if (!/^[a-z0-9]([a-z0-9-]*[a-z0-9])?$/.test(d.name)) fail(`${p}.name`, 'must be a DNS-1123 label');
    if (!d.dir.startsWith('/') || d.dir.split('/').includes('..')) fail(`${p}.dir`, 'must be an absolute path without `..`');
    return d;
  });
}

/** A secret file's name becomes a file name in the instance's secret folder: one plain name, no path. */
function secretFiles(v: unknown, path: string): SecretFile[] {
  return arr(v, path).map((x, i) => {
    const p = `${path}[${i}]`;
    const o = obj(x, p);
    const f: SecretFile = { name: str(o, 'name', p), env: str(o, 'env', p), content: str(o, 'content', p, true) };
    if (!/^[a-z0-9]([a-z0-9-]*[a-z0-9])?$/.test(f.name)) fail(`${p}.name`, 'must be a DNS-1123 label (it names a file)');
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(f.env)) fail(`${p}.env`, 'must be an environment variable name');
    return f;
  });
}

function handler(v: unknown, path: string): ProbeHandler {
  const o = obj(v, path);
  const set = ['http', 'tcp', 'exec', 'grpc'].filter((k) => o[k] !== undefined);
  if (set.length !== 1) fail(path, 'exactly one of http, tcp, exec, grpc must be set');
  if (o.http !== undefined) {
    const h = obj(o.http, `${path}.http`);
    const scheme = h.scheme ?? 'http';
    if (scheme !== 'http' && scheme !== 'https') fail(`${path}.http.scheme`, "must be 'http' or 'https'");
    const headers = arr(h.headers ?? [], `${path}.http.headers`).map((x, i) => {
      const ho = obj(x, `${path}.http.headers[${i}]`);
      const at = `${path}.http.headers[${i}]`;
      return { name: headerName(str(ho, 'name', at), `${at}.name`), value: headerValue(str(ho, 'value', at, true), `${at}.value`) };
    });
    const probePath = typeof h.path === 'string' && h.path ? h.path : '/';
    const badPath = badRequestPath(probePath);
    if (badPath !== undefined) fail(`${path}.http.path`, badPath);
    return { http: { path: probePath, port: port(h, 'port', `${path}.http`), scheme, headers } };
  }
  if (o.tcp !== undefined) return { tcp: { port: port(obj(o.tcp, `${path}.tcp`), 'port', `${path}.tcp`) } };
  if (o.exec !== undefined) return { exec: { command: stringArray(obj(o.exec, `${path}.exec`).command, `${path}.exec.command`, true) } };
  const g = obj(o.grpc, `${path}.grpc`);
  if (g.service !== undefined && typeof g.service !== 'string') fail(`${path}.grpc.service`, 'must be a string');
  return { grpc: { port: port(g, 'port', `${path}.grpc`), ...(typeof g.service === 'string' ? { service: g.service } : {}) } };
}

function probe(v: unknown, path: string): ProbeConfig | undefined {
  if (v === undefined || v === null) return undefined;
  const o = obj(v, path);
  return {
    handler: handler(o.handler, `${path}.handler`),
    initialDelaySeconds: bounded(o, 'initialDelaySeconds', path, BOUNDS.initialDelaySeconds, 0),
    periodSeconds: bounded(o, 'periodSeconds', path, BOUNDS.periodSeconds, 10),
    timeoutSeconds: bounded(o, 'timeoutSeconds', path, BOUNDS.timeoutSeconds, 1),
    successThreshold: bounded(o, 'successThreshold', path, BOUNDS.successThreshold, 1),
    failureThreshold: bounded(o, 'failureThreshold', path, BOUNDS.failureThreshold, 3),
  };
}

function restart(v: unknown, path: string): RestartConfig {
  const o = obj(v, path);
  const policy = o.policy;
  if (policy !== 'always' && policy !== 'on-failure' && policy !== 'never') fail(`${path}.policy`, "must be 'always', 'on-failure' or 'never'");
  return {
    policy,
    initialSeconds: bounded(o, 'initialSeconds', path, BOUNDS.backoffSeconds),
    maxSeconds: bounded(o, 'maxSeconds', path, BOUNDS.backoffSeconds),
    resetAfterSeconds: bounded(o, 'resetAfterSeconds', path, BOUNDS.backoffSeconds),
  };
}

function instance(v: unknown, path: string): InstanceSpec {
  const o = obj(v, path);
  const probes = obj(o.probes ?? {}, `${path}.probes`);
  const spec: InstanceSpec = {
    id: str(o, 'id', path),
    app: str(o, 'app', path),
    service: str(o, 'service', path),
    revision: str(o, 'revision', path),
    node: str(o, 'node', path),
    host: str(o, 'host', path),
    main: template(o.main, `${path}.main`),
    sidecars: arr(o.sidecars ?? [], `${path}.sidecars`).map((s, i) => template(s, `${path}.sidecars[${i}]`)),
    probes: {},
    restart: restart(o.restart, `${path}.restart`),
    stopGracePeriodSeconds: bounded(o, 'stopGracePeriodSeconds', path, BOUNDS.stopGracePeriodSeconds, 30),
    logDir: str(o, 'logDir', path),
  };
  if (o.port !== undefined) spec.port = port(o, 'port', path);
  if (o.memoryMiB !== undefined && o.memoryMiB !== null) spec.memoryMiB = bounded(o, 'memoryMiB', path, BOUNDS.memoryMiB);
  for (const kind of ['startup', 'readiness', 'liveness'] as const) {
    const p = probe(probes[kind], `${path}.probes.${kind}`);
    if (p) spec.probes[kind] = p;
  }
  const names = new Set<string>();
  for (const t of [spec.main, ...spec.sidecars]) {
    if (names.has(t.name)) fail(`${path}`, `process name '${t.name}' is used twice (log files are named after processes)`);
    if (t.name.includes('/') || t.name === '.' || t.name === '..') fail(`${path}`, `process name '${t.name}' must not contain '/'`);
    names.add(t.name);
  }
  return spec;
}

function service(v: unknown, path: string): ServiceForward {
  const o = obj(v, path);
  return { name: str(o, 'name', path), host: str(o, 'host', path), port: port(o, 'port', path) };
}

/** Parses and validates a desired-state document; throws DesiredValidationError naming the bad field. */
export function parseDesired(body: unknown): AgentDesired {
  const o = obj(body, 'desired');
  const desired: AgentDesired = {
    generation: num(o, 'generation', 'desired', { integer: true, min: 0 }),
    instances: arr(o.instances ?? [], 'desired.instances').map((x, i) => instance(x, `desired.instances[${i}]`)),
    services: arr(o.services ?? [], 'desired.services').map((x, i) => service(x, `desired.services[${i}]`)),
  };
  const ids = new Set<string>();
  for (const inst of desired.instances) {
    if (ids.has(inst.id)) fail('desired.instances', `instance id '${inst.id}' appears twice`);
    ids.add(inst.id);
  }
  const svcNames = new Set<string>();
  for (const s of desired.services) {
    if (svcNames.has(s.name)) fail('desired.services', `service '${s.name}' appears twice`);
    svcNames.add(s.name);
  }
  return desired;
}
