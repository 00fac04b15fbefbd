// `berth up` and `berth apply`: validate locally (nothing starts on an invalid spec), make sure the
// control plane runs (it starts the node agent), apply, then wait and/or show live status.
import { spawn } from 'node:child_process';
import { closeSync, openSync, readFileSync } from 'node:fs';
import { connect } from 'node:net';
import { fileURLToPath } from 'node:url';
import { formatSpecErrors, loadSpec } from '../../contract/index.js';
import { compile, type DesiredState } from '../../plan/index.js';
import type { PsRow } from '../../control/index.js';
import { readJsonFile } from '../../lib/files.js';
import { downSinceProcessStart, readDownEpoch } from '../../lib/down-epoch.js';
import { ensureToken } from '../../lib/token.js';
import { securePrivateTree } from '../../lib/private-dir.js';
import { describeHolder, findPortHolder, heldBy } from '../../lib/port-holder.js';
import { FATAL_PREFIX, type ControlInfo } from '../../lib/state-dir.js';
import { restoreStateBackup } from '../../lib/state-recovery.js';
import { controlClient, resolveContext, sleep, type Context, type ControlClient } from '../context.js';
import { CliError, errors } from '../errors.js';
import { chooseEnv, printEnvNote } from '../active-env.js';
import { bold, cyan, dim, green, red, useColor } from '../output.js';
import { stopApp } from './down.js';
import { enforcePolicies } from '../policy-gate.js';

const controlMain = fileURLToPath(new URL('../../control/main.js', import.meta.url));

interface UpOptions {
  file?: string;
  env?: string;
  detach?: boolean;
  wait?: boolean;
  timeout?: string;
  json?: boolean;
  restoreBackup?: boolean;
  watch?: boolean;
  rebuild?: boolean;
  table?: boolean;
}

interface ServiceStatus {
  name: string;
  revision: string;
  replicas: number;
  ready: number;
  port: number | null;
  address: string | null;
  release?: { stableRevision: string; canaryRevision: string };
}

interface Status {
  app?: string;
  env?: string;
  services: ServiceStatus[];
}

interface Change {
  service: string;
  change: string;
  from?: string;
  to?: string;
}

type LoadedSpec = Extract<Awaited<ReturnType<typeof loadSpec>>, { ok: true }>;

async function validateOrExit(ctx: Context, env: string | undefined): Promise<LoadedSpec> {
  const res = await loadSpec(ctx.specFile!, { env });
  if (!res.ok) throw errors.invalidSpec(formatSpecErrors(res.errors, { color: useColor(process.stderr) }));
  enforcePolicies(res, env);
  return res;
}

/**
 * Starts the control plane for this state dir unless one answers already. `downEpoch`: the `berth down` epoch
 * the caller began under; a control plane started for it stops by itself if a `down` ran meanwhile.
 */
export async function ensureControlPlane(ctx: Context, downEpoch?: string): Promise<ControlClient> {
  const existing = controlClient(ctx);
  if (existing) {
    try {
      await existing.get('/api/v1/healthz');
      return existing;
    } catch {
      // not answering: a control plane is started below
    }
  }
  securePrivateTree(ctx.stateDir);
  ensureToken(ctx.layout.token);
  const logFd = openSync(ctx.layout.controlLog, 'a', 0o600);
  const env = downEpoch === undefined ? process.env : { ...process.env, BERTH_DOWN_EPOCH: downEpoch };
  const child = spawn(process.execPath, [controlMain, '--state-dir', ctx.stateDir], { detached: true, stdio: ['ignore', logFd, logFd], env });
  closeSync(logFd);
  child.unref();
  const deadline = performance.now() + 20_000;
  while (performance.now() < deadline) {
    const info = readJsonFile<ControlInfo>(ctx.layout.controlInfo);
    // Our child, or — if another `berth up` won the race — whichever control plane holds the lock.
    if (info && (info.pid === child.pid || child.exitCode !== null)) {
      const c = controlClient(ctx);
      if (c) {
        try {
          await c.get('/api/v1/healthz');
          return c;
        } catch {
          // not ready yet: polled again until the deadline
        }
      }
    }
    if (child.exitCode !== null && child.exitCode !== 0) {
      // It said why (a damaged state database…): show that line instead of a bare "did not start".
      const fatal = fatalLine(ctx.layout.controlLog);
      if (fatal) throw errors.stateCorrupt(fatal);
    }
    if (child.exitCode !== null && performance.now() > deadline - 15_000) break;
    await sleep(25);
  }
  throw errors.failed('the control plane did not start', `see ${ctx.layout.controlLog}`);
}

/** The control plane's fatal message (see FATAL_PREFIX) when it is the log's last line (an older one is not this start's). */
function fatalLine(logFile: string): string | undefined {
  try {
    const line = readFileSync(logFile, 'utf8').trimEnd().split('\n').pop() ?? '';
    return line.startsWith(FATAL_PREFIX) ? line.slice(FATAL_PREFIX.length) : undefined;
  } catch {
    return undefined; // no log yet: the generic message and its hint stand
  }
}

/** `up --restore-backup`: puts the control plane's last good copy of state.db in place (only while no control plane runs). */
async function restoreBackup(ctx: Context): Promise<void> {
  const running = controlClient(ctx);
  if (running) {
    const answers = await running.get('/api/v1/healthz').then(
      () => true,
      () => false,
    );
    if (answers) throw errors.usage('the control plane is running: --restore-backup replaces the state database only while it is stopped', 'stop it with `berth down` first');
  }
  try {
    const r = restoreStateBackup(ctx.stateDir);
    process.stderr.write(`restored the state database from ${r.restoredFrom}${r.damagedAt ? `; the damaged one was moved to ${r.damagedAt}` : ''}\n`);
  } catch (err) {
    throw errors.failed((err as Error).message);
  }
}

function reachable(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect({ host: '127.0.0.1', port });
    s.setTimeout(1000);
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
    s.once('timeout', () => {
      s.destroy();
      resolve(false);
    });
  });
}

/** The addresses this app serves on 127.0.0.1: every service port and the ingress port. */
function specPorts(desired: DesiredState): { port: number; what: string }[] {
  const out = new Map<number, string>();
  for (const s of desired.services) if (s.port !== undefined && !out.has(s.port)) out.set(s.port, `service ${s.name.split('.')[0]}`);
  const ingress = desired.mesh?.ingress?.port;
  if (ingress !== undefined) out.set(ingress, 'the ingress');
  return [...out].map(([port, what]) => ({ port, what }));
}

/** Refuses a port of the spec that a process outside this app listens on (another Berth app or anything else), naming it. */
function checkPortsFree(stateDir: string, ports: { port: number; what: string }[]): void {
  for (const { port, what } of ports) {
    const holder = findPortHolder(port);
    if (holder && !heldBy(holder, stateDir))
      throw errors.portInUse(`port ${port} (${what}) is already in use by ${describeHolder(holder)}`, `stop that process or change the port in the spec; this app cannot serve 127.0.0.1:${port} while it listens there`);
  }
}

/** True when every service has its desired number of ready instances of its current revision, nothing is stopping, and every service address accepts connections. */
async function allReady(c: ControlClient, guard?: PortGuard): Promise<{ done: boolean; summary: string }> {
  const [status, rows] = await Promise.all([c.get<Status>('/api/v1/status'), c.get<PsRow[]>('/api/v1/instances')]);
  let done = true;
  const parts: string[] = [];
  for (const s of status.services) {
    // A release in progress (issue 14): stable is what must be ready; its canary is no leftover.
    const serving = s.release?.stableRevision ?? s.revision;
    const current = rows.filter((r) => r.service === s.name && r.revision === serving && r.ready).length;
    const others = rows.filter((r) => r.service === s.name && r.revision !== serving && r.revision !== s.release?.canaryRevision).length;
    if (current < s.replicas || others > 0) done = false;
    parts.push(`${s.name} ${current}/${s.replicas}`);
  }
  if (done) for (const s of status.services) if (s.port !== null && s.replicas > 0 && !(await reachable(s.port))) done = false;
  // Reachable is not enough: another process on the port answers too. Ours, or the wait fails now.
  if (guard) checkPortsFree(guard.stateDir, guard.ports);
  // The mesh: the gateway and every ready instance's sidecar must route with the current endpoints.
  if (done) {
    const mesh = await c.get<{ synced: boolean; pending: string[] }>('/api/v1/mesh/status').catch(() => undefined);
    if (mesh && !mesh.synced) {
      done = false;
      parts.push(`mesh: waiting for ${mesh.pending.length} ${mesh.pending.length === 1 ? 'proxy' : 'proxies'}`);
    }
  }
  return { done, summary: parts.join(', ') };
}

/** What `--wait` checks besides readiness: that this app's listeners, not someone else's, hold its ports. */
interface PortGuard {
  stateDir: string;
  ports: { port: number; what: string }[];
}

async function waitAllReady(c: ControlClient, timeoutS: number, guard?: PortGuard): Promise<void> {
  const deadline = performance.now() + timeoutS * 1000;
  const tty = process.stderr.isTTY;
  const started = performance.now();
  let last = '';
  while (performance.now() < deadline) {
    const { done, summary } = await allReady(c, guard);
    if (done) {
      if (tty) process.stderr.write('\r\x1b[K');
      return;
    }
    const line = `waiting for ready: ${summary} (${((performance.now() - started) / 1000).toFixed(0)}s)`;
    if (tty) process.stderr.write(`\r\x1b[K${dim(line, process.stderr)}`);
    else if (summary !== last && performance.now() - started > 1000) process.stderr.write(line + '\n');
    last = summary;
    await sleep(100);
  }
  if (tty) process.stderr.write('\n');
  throw errors.timeout(`after ${timeoutS}s waiting for every instance to be ready (see \`berth ps\` and \`berth events\`)`);
}

function printChanges(changes: Change[]): void {
  for (const c of changes) {
    if (c.change === 'unchanged') continue;
    const what = c.change === 'revision' ? `revision ${c.from} → ${c.to}` : c.change === 'replicas' ? `replicas ${c.from} → ${c.to}` : c.change === 'release' ? `release policy changed (strategy ${c.from ?? 'rolling'} → ${c.to ?? 'rolling'}; nothing restarts)` : c.change;
    process.stdout.write(`${cyan(c.service)}: ${what}\n`);
  }
}

function printAddresses(status: Status, controlPort: number): void {
  const withPort = status.services.filter((s) => s.address);
  if (withPort.length > 0) {
    process.stdout.write(`${bold(status.app ?? 'app')} is up${status.env ? ` (environment ${status.env})` : ''}:\n`);
    for (const s of withPort) process.stdout.write(`  ${s.name.padEnd(12)} http://${s.address}/  ${dim(`(${s.ready}/${s.replicas} ready)`)}\n`);
  }
  // The dashboard's port; its login URL (with the token) comes from `berth dashboard`.
  process.stdout.write(`  ${'dashboard'.padEnd(12)} http://127.0.0.1:${controlPort}/  ${dim('(`berth dashboard` opens it logged in)')}\n`);
}

/**
 * Compiles here (the spec tools are loaded already) and sends the desired state: the control plane never loads them.
 * A port another process holds refuses the spec before anything starts. `downEpoch`: the `berth down` epoch this
 * command began under; the control plane refuses the apply if a later down ran.
 */
async function applySpec(ctx: Context, c: ControlClient, loaded: LoadedSpec, env: string | undefined, downEpoch: string): Promise<{ changes: Change[]; guard: PortGuard }> {
  const generations = await c.get<Record<string, number>>('/api/v1/restart-generations');
  const desired = compile(loaded.spec, { dir: loaded.dir, specFile: loaded.file, env, restartGenerations: generations });
  const guard = { stateDir: ctx.stateDir, ports: specPorts(desired) };
  checkPortsFree(guard.stateDir, guard.ports);
  return { changes: (await c.post<{ changes: Change[] }>('/api/v1/apply', { desired, downEpoch })).changes, guard };
}

/** The spec's `gitops:` sources, registered with the control plane (as `berth gitops add`; updated when changed). */
async function registerGitops(c: ControlClient, loaded: LoadedSpec, json: boolean | undefined): Promise<void> {
  if (!loaded.spec.gitops?.length) return;
  const { registerSpecSources } = await import('./gitops.js');
  const done = await registerSpecSources(c, loaded.spec.gitops, loaded.dir);
  if (!json) for (const [name, what] of Object.entries(done)) if (what !== 'unchanged') process.stdout.write(`gitops ${name}: ${what}\n`);
}

/**
 * Runs `body` for `berth <what>`; when a `berth down` ran meanwhile (the control plane refused the apply, or
 * went away under a wait), the failure is reported as that, not as a raw connection error.
 */
async function overtakenByDown<T>(ctx: Context, what: string, epoch: string, body: () => Promise<T>): Promise<T> {
  try {
    return await body();
  } catch (err) {
    if (readDownEpoch(ctx.stateDir) !== epoch) throw errors.stoppedByDown(what);
    throw err;
  }
}

/** The environment to apply (--env, else the app's active one) and the spec loaded with it; says when that is not what the command line says. */
async function loadWithEnv(ctx: Context, o: UpOptions): Promise<{ loaded: LoadedSpec; o: UpOptions }> {
  const choice = chooseEnv(ctx, o.env);
  printEnvNote(choice);
  try {
    return { loaded: await validateOrExit(ctx, choice.env), o: { ...o, env: choice.env } };
  } catch (err) {
    if (o.env === undefined && choice.env !== undefined && err instanceof CliError)
      throw errors.invalidSpec(`${err.message}\n(the app's active environment is ${choice.env}; \`--env default\` applies the base spec, \`--env NAME\` another environment)`);
    throw err;
  }
}

export async function up(opts: UpOptions): Promise<void> {
  const ctx = resolveContext(opts.file, true);
  const { loaded, o } = await loadWithEnv(ctx, opts);
  const epoch = readDownEpoch(ctx.stateDir);
  if (downSinceProcessStart(epoch)) throw errors.stoppedByDown('up');
  await overtakenByDown(ctx, 'up', epoch, () => upWith(ctx, loaded, epoch, o));
}

async function upWith(ctx: Context, loaded: LoadedSpec, epoch: string, o: UpOptions): Promise<void> {
  if (o.watch && o.detach) throw errors.usage('--watch runs in the foreground: leave out -d/--detach', 'or run `berth apply` after saving: it takes watched files into account');
  if (o.restoreBackup) await restoreBackup(ctx);
  const c = await ensureControlPlane(ctx, epoch);
  const { changes, guard } = await applySpec(ctx, c, loaded, o.env, epoch);
  if (!o.json) printChanges(changes);
  await registerGitops(c, loaded, o.json);
  const timeoutS = Number(o.timeout ?? 120);
  if (!Number.isFinite(timeoutS) || timeoutS <= 0) throw errors.usage(`--timeout must be a positive number of seconds, got ${o.timeout}`);
  if (o.wait) await waitAllReady(c, timeoutS, guard);
  if (o.detach) {
    const status = await c.get<Status>('/api/v1/status');
    if (o.json) process.stdout.write(JSON.stringify(status) + '\n');
    else {
      printAddresses(status, c.info.port);
      process.stdout.write(dim('running in the background: `berth ps`, `berth logs SERVICE`, `berth down`\n'));
    }
    return;
  }
  await foreground(ctx, c, o.table, o.watch ? (say) => startWatching(ctx, c, loaded, o.env, epoch, say) : undefined);
}

/** `up --watch`: the dev loop (watch/dev-loop.ts) re-applies on saves; its lines go to the foreground screen. */
async function startWatching(ctx: Context, c: ControlClient, loaded: LoadedSpec, env: string | undefined, epoch: string, say: (line: string, kind?: 'info' | 'ok' | 'error') => void) {
  const { startDevLoop } = await import('../watch/dev-loop.js');
  const watched = Object.entries(loaded.spec.services).filter(([, s]) => s.watch).map(([n]) => n);
  const loop = startDevLoop(loaded, {
    specFile: ctx.specFile!,
    env,
    client: c,
    say,
    forcePoll: process.env.BERTH_WATCH_POLL === '1',
    apply: async (next) => {
      enforcePolicies(next, env);
      return (await applySpec(ctx, c, next, env, epoch)).changes;
    },
  });
  say(
    watched.length > 0
      ? `watching ${watched.join(', ')} and ${ctx.specFile!.split('/').pop()} (${loop.mode() === 'poll' ? 'polling' : 'file events'}): a saved file makes a new revision`
      : `watching ${ctx.specFile!.split('/').pop()} only: no service has \`watch:\` (add \`watch: {}\` to a service to reload it on a saved file)`,
  );
  return loop;
}

export async function apply(opts: UpOptions): Promise<void> {
  const ctx = resolveContext(opts.file, true);
  const { loaded, o } = await loadWithEnv(ctx, opts);
  const epoch = readDownEpoch(ctx.stateDir);
  if (downSinceProcessStart(epoch)) throw errors.stoppedByDown('apply');
  const c = controlClient(ctx);
  if (!c) throw errors.notRunning(ctx.stateDir);
  await overtakenByDown(ctx, 'apply', epoch, async () => {
    const { changes, guard } = await applySpec(ctx, c, loaded, o.env, epoch);
    if (o.rebuild) changes.push(...(await rebuild(c, loaded, changes)));
    if (o.json) process.stdout.write(JSON.stringify({ changes }) + '\n');
    else {
      printChanges(changes);
      if (changes.every((ch) => ch.change === 'unchanged')) process.stdout.write('no change\n');
    }
    await registerGitops(c, loaded, o.json);
    if (o.wait) await waitAllReady(c, Number(o.timeout ?? 120), guard);
  });
}

/**
 * `apply --rebuild`: every service without `watch:` (whose code the revision does not cover) and not already
 * given a new revision gets one anyway, rolled out as `berth restart` does: fresh processes on the code on disk.
 */
async function rebuild(c: ControlClient, loaded: LoadedSpec, changes: Change[]): Promise<Change[]> {
  const out: Change[] = [];
  for (const [name, svc] of Object.entries(loaded.spec.services)) {
    if (svc.watch || changes.some((ch) => ch.service === name && ch.change !== 'unchanged')) continue;
    const before = changes.find((ch) => ch.service === name);
    const { revision } = await c.post<{ revision: string }>('/api/v1/restart', { service: name });
    out.push({ service: name, change: 'revision', from: before?.from ?? before?.to, to: revision });
  }
  return out;
}

/** Foreground `berth up`: the compose-like screen (screen.ts); Ctrl-C stops everything gracefully. */
async function foreground(ctx: Context, c: ControlClient, table: boolean | undefined, withLoop?: (say: (line: string, kind?: 'info' | 'ok' | 'error') => void) => Promise<{ close(): void }>): Promise<void> {
  const { openScreen } = await import('./screen.js');
  const loopRef: { close(): void } = { close: () => {} };
  const { screen, run } = openScreen(ctx, c, { table, onInterrupt: 'stop', loop: loopRef, stop: (x) => stopApp(x, 60) });
  if (withLoop) {
    const loop = await withLoop((line, kind) => screen.say(kind === 'error' ? red(line) : kind === 'ok' ? green(line) : line));
    loopRef.close = () => loop.close();
  }
  await run();
}
