// Compiles a validated AppSpec into DesiredState: resolves paths, env files, argv, probe ports and
// per-service URLs, then hashes each instance template into a revision.
import { readFileSync } from 'node:fs';
import { isAbsolute, join, resolve } from 'node:path';
import { parse as parseDotenv } from 'dotenv';
import { envVarName, readComponentResources, resolveDaprServices, resolveSpecSecrets, type DaprServiceDecl, readSecret, secretFileEnv, volumeEnv, resolveNodes, splitCommand, variantDeploymentName, variantSpec, type AppSpec, type ProbeSpec, type ServiceSpec } from '../contract/index.js';
import type { ProbeConfig, ProbeHandler, ProcessTemplate, SecretFile, VolumeDir } from '../lib/agent-protocol.js';
import { stateLayout } from '../lib/state-dir.js';
import type { MeshConfig } from '../lib/mesh-protocol.js';
import type { DesiredService, DesiredState, InstanceTemplate } from './desired-state.js';
import { stampRevision } from '../lib/revision.js';
import { platformSidecars } from './platform-sidecars.js';
import { effectiveReadiness } from './default-probes.js';
import { sourceDigest, type WatchInput } from '../lib/source-digest.js';

export interface CompileOptions {
  /** Directory holding the spec file; relative paths resolve against it. */
  dir: string;
  specFile: string;
  env?: string;
  /** Per-service generation bumped by `berth restart`, folded into the revision. */
  restartGenerations?: Record<string, number>;
}

/** The address a service is reached at (its "cluster IP"). */
export const serviceHost = '127.0.0.1';

export function serviceUrl(port: number): string {
  return `http://${serviceHost}:${port}`;
}

function resolveDir(base: string, p: string | undefined): string {
  if (!p) return base;
  return isAbsolute(p) ? p : resolve(base, p);
}

/** `appPort`: where the app really listens when a platform proxy took the service port (probes go to the app). */
function compileProbe(probe: ProbeSpec | undefined, port: number | undefined, appPort = port): ProbeConfig | undefined {
  if (!probe) return undefined;
  let handler: ProbeHandler;
  const need = (p: number | undefined) => {
    const v = p === undefined || p === port ? appPort : p;
    if (v === undefined) throw new Error('probe needs a port'); // the contract rejects this earlier
    return v;
  };
  if (probe.http) {
    handler = {
      http: {
        path: probe.http.path,
        port: need(probe.http.port),
        scheme: probe.http.scheme,
        headers: Object.entries(probe.http.headers).map(([name, value]) => ({ name, value })),
      },
    };
  } else if (probe.tcp) handler = { tcp: { port: need(probe.tcp.port) } };
  else if (probe.grpc) handler = { grpc: { port: need(probe.grpc.port), ...(probe.grpc.service ? { service: probe.grpc.service } : {}) } };
  else if (probe.exec) {
    const c = probe.exec.command;
    handler = { exec: { command: Array.isArray(c) ? c : ['sh', '-c', c] } };
  } else throw new Error('probe has no handler');
  return {
    handler,
    initialDelaySeconds: probe.initialDelaySeconds,
    periodSeconds: probe.periodSeconds,
    timeoutSeconds: probe.timeoutSeconds,
    successThreshold: probe.successThreshold,
    failureThreshold: probe.failureThreshold,
  };
}

function serviceEnv(app: AppSpec, name: string, svc: ServiceSpec, dir: string): Record<string, string> {
  const env: Record<string, string> = {};
  if (svc.envFile) Object.assign(env, parseDotenv(readFileSync(resolveDir(dir, svc.envFile), 'utf8')));
  Object.assign(env, svc.env);
  // Secrets reach the instance as on the cluster: `env` uses as variables here, `file` uses as files (secretFiles()).
  for (const u of svc.secrets ?? []) {
    const src = app.secrets?.[u.name];
    if (!src || u.env === undefined) continue; // undeclared: reported by the spec check
    try {
      env[u.env] = readSecret(u.name, src, dir);
    } catch {
      // An unset variable was a warning when the spec loaded (the secret files were checked to exist): the instance goes without it.
    }
  }
  env.BERTH_APP = app.app;
  env.BERTH_SERVICE = name;
  for (const used of svc.uses) {
    const port = app.services[used]?.port;
    if (port !== undefined) env[`BERTH_${envVarName(used)}_URL`] = serviceUrl(port);
  }
  if (svc.port !== undefined) env.PORT = String(svc.port);
  return env;
}

/**
 * A service's `file` uses of secrets: the node agent writes each for the instance, readable only by the
 * app's user, and gives its path in BERTH_SECRET_FILE_<NAME> — on the cluster that variable holds the
 * mount path, so an app reads its secret files the same way in both places.
 */
function secretFiles(app: AppSpec, svc: ServiceSpec, dir: string): SecretFile[] {
  const out: SecretFile[] = [];
  for (const u of svc.secrets ?? []) {
    const src = app.secrets?.[u.name];
    if (!src || u.file === undefined) continue;
    try {
      out.push({ name: u.name, env: secretFileEnv(u.name), content: readSecret(u.name, src, dir) });
    } catch {
      // An unset variable was a warning when the spec loaded: the instance goes without that file.
    }
  }
  return out;
}

/**
 * A service's persistent volumes: a directory each under `.berth/volumes/<service>/` (variants share
 * their service's, as on the cluster they mount its claim), named in BERTH_VOLUME_<NAME> — on the
 * cluster that variable holds the mount path. The node agent creates them, owned by the app's user.
 */
function volumeDirs(service: string, svc: ServiceSpec, dir: string): VolumeDir[] {
  const layout = stateLayout(join(dir, '.berth'));
  return (svc.volumes ?? []).map((v) => ({ name: v.name, dir: layout.volumeDir(service, v.name) }));
}

/** What a service's `watch:` covers (paths relative to the spec's folder; default: the service's cwd), or undefined without `watch:`. */
export function watchInput(svc: ServiceSpec, specDir: string): WatchInput | undefined {
  if (!svc.watch) return undefined;
  const paths = svc.watch.paths?.map((p) => resolveDir(specDir, p)) ?? [resolveDir(specDir, svc.cwd)];
  return { paths, ignore: svc.watch.ignore, specDir };
}

/** `variant`: compile one variant of the service instead (its own deployment, `<service>.<variant>`). */
function compileService(app: AppSpec, name: string, opts: CompileOptions, dapr: DaprServiceDecl | undefined, variant?: { name: string; spec: ServiceSpec }): DesiredService {
  const svc = variant?.spec ?? app.services[name];
  const deployment = variant ? variantDeploymentName(name, variant.name) : name;
  const cwd = resolveDir(opts.dir, svc.cwd);
  const env = serviceEnv(app, name, svc, opts.dir);
  const files = secretFiles(app, svc, opts.dir);
  const volumes = volumeDirs(name, svc, opts.dir);
  for (const v of volumes) env[volumeEnv(v.name)] = v.dir;
  const withVolumes = volumes.length > 0 ? { volumes } : {};
  const main: ProcessTemplate = { name: 'app', argv: splitCommand(svc.run), cwd, env, ...(svc.user !== undefined ? { user: svc.user } : {}), ...(files.length > 0 ? { secretFiles: files } : {}), ...withVolumes };
  const platform = platformSidecars({ app, service: name, spec: svc, dir: opts.dir, appEnv: env, ...(dapr ? { dapr } : {}) });
  Object.assign(env, platform.appEnv);
  const appPort = platform.appEnv.PORT !== undefined ? Number(platform.appEnv.PORT) : svc.port;
  const sidecars: ProcessTemplate[] = [
    ...platform.sidecars,
    ...svc.sidecars.map((s) => ({
      name: s.name,
      argv: splitCommand(s.run),
      cwd: resolveDir(cwd, s.cwd),
      env: { ...env, ...s.env },
      ...(svc.user !== undefined ? { user: svc.user } : {}),
      ...withVolumes,
    })),
  ];
  const template: InstanceTemplate = {
    main,
    sidecars,
    probes: {
      startup: compileProbe(svc.probes.startup, svc.port, appPort),
      readiness: compileProbe(effectiveReadiness(svc), svc.port, appPort),
      liveness: compileProbe(svc.probes.liveness, svc.port, appPort),
    },
    restart: { policy: svc.restart.policy, ...svc.restart.backoff },
    memoryMiB: svc.resources.memoryMiB,
    cpuMillis: svc.resources.cpuMillis,
    stopGracePeriodSeconds: svc.stopGracePeriodSeconds,
    port: svc.port,
  };
  // A watched service's code is part of its revision: a saved file is a change `berth apply` rolls out.
  const watched = watchInput(svc, opts.dir);
  if (watched) template.sourceDigest = sourceDigest(watched);
  const revision = stampRevision(template, opts.restartGenerations?.[deployment] ?? 0);
  return {
    name: deployment,
    revision,
    replicas: svc.replicas,
    port: svc.port,
    uses: [...svc.uses],
    dependsOn: { ...svc.dependsOn },
    // watch.action restart: old instances stop as new ones start (nodemon's trade: quicker, a short gap).
    rollout: svc.watch?.action === 'restart' ? { maxSurge: 0, maxUnavailable: '100%' } : { ...svc.rollout },
    ...(svc.placement ? { placement: svc.placement } : {}),
    ...(svc.scale ? { scale: svc.scale } : {}),
    ...(svc.priority ? { priority: svc.priority } : {}),
    ...(svc.release && !variant ? { release: structuredClone(svc.release) } : {}),
    template,
    ...(dapr ? { dapr } : {}),
  };
}

/** Routes and destination policies of the services that declare them (they reach the proxies through snapshots). */
function meshServices(app: AppSpec): NonNullable<MeshConfig['services']> {
  const out: NonNullable<MeshConfig['services']> = {};
  for (const [name, svc] of Object.entries(app.services)) {
    const protocol = svc.protocol !== undefined && svc.protocol !== 'http' ? { protocol: svc.protocol } : {};
    const ignore = svc.replay?.ignore.length ? { ignore: svc.replay.ignore } : {};
    if (svc.routes || svc.policy || protocol.protocol || ignore.ignore) out[name] = { ...(svc.routes ? { routes: svc.routes } : {}), ...(svc.policy ? { policy: svc.policy } : {}), ...protocol, ...ignore };
  }
  return out;
}

/** The services' `record:` as the proxies apply it (the spec's recording of a service has the id `spec-<service>`). */
function meshRecordings(app: AppSpec): Pick<MeshConfig, 'recordings'> {
  const out: NonNullable<MeshConfig['recordings']> = {};
  for (const [name, svc] of Object.entries(app.services)) {
    const r = svc.record;
    if (r) out[name] = { id: `spec-${name}`, sample: r.sample, ...(r.match ? { match: r.match } : {}), redactHeaders: r.redactHeaders.map((h) => h.toLowerCase()), maxBodyBytes: r.maxBodyBytes, maxFileMiB: r.maxFileMiB };
  }
  return Object.keys(out).length > 0 ? { recordings: out } : {};
}

/** Services ordered so that every service comes after what it depends on (the contract forbids cycles). */
export function startOrder(app: AppSpec): string[] {
  const order: string[] = [];
  const seen = new Set<string>();
  const visit = (name: string) => {
    if (seen.has(name)) return;
    seen.add(name);
    for (const dep of Object.keys(app.services[name]?.dependsOn ?? {})) if (app.services[dep]) visit(dep);
    order.push(name);
  };
  for (const name of Object.keys(app.services).sort()) visit(name);
  return order;
}

export function compile(app: AppSpec, opts: CompileOptions): DesiredState {
  // The loader reported any problem in the components already; here they are only read.
  // Secret references stay references in the app-wide list (a cluster renders them as Secrets);
  // each service's sidecar gets the values, as instances get their secret variables.
  const resources = readComponentResources(app, opts.dir);
  const resolved = { ...resources, components: resources.components.map((c) => resolveSpecSecrets(c, app, opts.dir)) };
  const dapr = resolveDaprServices(app, resolved, join(opts.dir, '.berth')).services;
  return {
    app: app.app,
    specFile: opts.specFile,
    env: opts.env,
    services: startOrder(app).flatMap((name) => [
      compileService(app, name, opts, dapr[name]),
      ...Object.entries(app.services[name].variants ?? {}).map(([v, override]) => compileService(app, name, opts, dapr[name], { name: v, spec: variantSpec(app.services[name], override) })),
    ]),
    mesh: { ...(app.ingress ? { ingress: app.ingress } : {}), accessLog: app.mesh.accessLog, ...(app.mesh.requestId === false ? { requestId: false } : {}), ...(app.mesh.forwardedFor === false ? { forwardedFor: false } : {}), ...(app.mesh.trustedHops ? { trustedHops: app.mesh.trustedHops } : {}), ...(app.mesh.tracing ? { tracing: app.mesh.tracing } : {}), services: meshServices(app), ...meshRecordings(app) },
    nodes: resolveNodes(app.nodes),
    ...(resources.components.length > 0 ? { components: resources.components } : {}),
    ...(resources.subscriptions.length > 0 ? { subscriptions: resources.subscriptions } : {}),
    ...(app.analysisTemplates && Object.keys(app.analysisTemplates).length > 0 ? { analysisTemplates: structuredClone(app.analysisTemplates) } : {}),
  };
}
