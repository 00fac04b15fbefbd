// One instance = a group of processes: sidecars first, then the app. Runs the app's probes, derives the
// instance status and readiness, turns every automatic action into an event, and stops the group in order
// (app first, then sidecars; SIGTERM, grace, SIGKILL). A sidecar that carries the traffic (`listenPort`,
// the mesh proxy) starts beside the app, not before it, so the two start in parallel; the instance is
// ready once the app's readiness passed and that sidecar accepts connections.
// An instance with a port runs its app on a private, machine-unique PORT (allocated by the agent):
// `PORT` (and `APP_PORT`, `$(PORT)`) in the processes' environments are that number, probes aimed at the spec port
// reach the app wherever it bound PORT, and when no sidecar takes HOST:<spec port> the instance
// serves it itself (forwardInstance). An app listening on other ports but not on PORT is not ready.
import type { InstanceObserved, InstanceSpec, InstanceStatus, ProbeConfig, ProcessExit } from '../lib/agent-protocol.js';
import { withPrivatePort } from '../lib/private-port.js';
import { listenSockets, socketInodes } from '../lib/listen-sockets.js';
import { groupMembers } from '../lib/proc.js';
import { AppListen, type ListenState } from './app-listen.js';
import type { NewEvent } from './event-log.js';
import { forwardInstance } from './forwarder.js';
import type { LogRotation } from './log-file.js';
import { createProbe } from './probes/create-probe.js';
import { ProbeRunner, type ProbeKind } from './probes/probe-runner.js';
import { TcpProbe } from './probes/tcp-probe.js';
import { SupervisedProcess, type SupervisedProcessHooks } from './supervised-process.js';
import { removeSecretFiles, secretFilePath, writeSecretFiles } from './secret-files.js';
import { prepareVolumeDirs } from './volume-dirs.js';

export interface InstanceHooks {
  /** Records an event about this instance (service and instance are filled in). */
  event(event: Omit<NewEvent, 'service' | 'instance'>): void;
  /** Observed state (status, readiness, pids…) changed. */
  changed(): void;
  /** Another process holds the app's private PORT `old`: a new one, or undefined when none is free. */
  reassignPort?(old: number): number | undefined;
}

export interface RunningProcessRecord {
  instance: string;
  name: string;
  role: 'app' | 'sidecar';
  pid: number;
  startTime?: number;
  pgid: number;
}

type Phase = 'running' | 'stopping' | 'stopped';

/** Least time sidecars get between SIGTERM and SIGKILL when the app used up the grace period. */
const SIDECAR_MIN_GRACE_MS = 500;

/** How often a starting traffic sidecar's port is tried (it listens within a few hundred ms). */
const LISTEN_POLL_MS = 20;

const PROBE_LABEL: Record<ProbeKind, string> = { startup: 'Startup', readiness: 'Readiness', liveness: 'Liveness' };

function describeExit(exit: ProcessExit): string {
  const how = exit.signal ? `signal ${exit.signal}` : exit.code !== null ? `code ${exit.code}` : 'no exit status';
  return `${how}, reason ${exit.reason}${exit.message ? ` (${exit.message})` : ''}`;
}

export class Instance {
  readonly id: string;
  readonly revision: string;
  readonly service: string;
  readonly app: SupervisedProcess;
  readonly sidecars: SupervisedProcess[];
  private phase: Phase = 'running';
  /** The app's readiness (its probe, or started when it has none). */
  private ready = false;
  /** What was last reported: app ready and every traffic sidecar listening. */
  private servingReported = false;
  /** Traffic sidecars (listenPort) that accept connections since their last start. */
  private readonly listening = new Set<SupervisedProcess>();
  private listenTimers = new Map<SupervisedProcess, NodeJS.Timeout>();
  private everReadyThisRun = false;
  private startupPassed = false;
  private runners: ProbeRunner[] = [];
  private appStarted = false;
  private stopPromise: Promise<void> | undefined;
  private readonly createdAt = new Date().toISOString();
  /** Where the app listens on its private PORT (only for an instance with a port). */
  private listen: AppListen | undefined;
  /** The app's private PORT (the agent allocates it for an instance with a port; it changes only when another program takes it). */
  privatePort: number | undefined;
  /** Process group of the app's current or last run. */
  private appPgid: number | undefined;
  /** HOST:<spec port> served by the agent when no sidecar takes it. */
  private selfForward: { close(destroyConnections?: boolean): void } | undefined;
  /** What the app group was last seen listening on when that is not PORT (not ready meanwhile). */
  private elsewhere: string[] | undefined;

  constructor(
    readonly spec: InstanceSpec,
    private readonly hooks: InstanceHooks,
    logRotation: LogRotation,
    privatePort?: number,
    /** Where this node's secret files go (secret-files.ts); needed only when the app has some. */
    private readonly secretsRoot?: string,
    /** The state directory the instance's persistent volumes live under (volume-dirs.ts); needed only when it has some. */
    private readonly stateDir?: string,
  ) {
    this.privatePort = privatePort;
    this.id = spec.id;
    this.revision = spec.revision;
    this.service = spec.service;
    if (privatePort !== undefined) this.listen = new AppListen(spec.host, privatePort, (state) => this.onListen(state));
    const make = (template: InstanceSpec['main'], role: 'app' | 'sidecar'): SupervisedProcess =>
      new SupervisedProcess({
        template: privatePort === undefined ? template : withPrivatePort(template, privatePort, role === 'app'),
        // Sidecars are platform processes: they always come back, with the instance's back-off timings.
        restart: role === 'app' ? spec.restart : { ...spec.restart, policy: 'always' },
        logDir: spec.logDir,
        logRotation,
        hooks: role === 'app' ? this.appHooks() : this.sidecarHooks(),
      });
    this.sidecars = spec.sidecars.map((t) => make(t, 'sidecar'));
    this.app = make(this.withSecretFilePaths(spec.main), 'app');
  }

  /** The app's template with BERTH_SECRET_FILE_<NAME> pointing at where start() writes each secret file. */
  private withSecretFilePaths(main: InstanceSpec['main']): InstanceSpec['main'] {
    const files = main.secretFiles ?? [];
    if (files.length === 0 || this.secretsRoot === undefined) return main;
    const env = { ...main.env };
    for (const f of files) env[f.env] = secretFilePath(this.secretsRoot, this.id, f.name);
    return { ...main, env };
  }

  /** Starts the sidecars, then the app once every sidecar runs. */
  start(): void {
    const files = this.spec.main.secretFiles ?? [];
    if (files.length > 0 && this.secretsRoot !== undefined) {
      try {
        writeSecretFiles(this.secretsRoot, this.id, files, this.spec.main.user);
      } catch (err) {
        this.hooks.event({ type: 'Warning', reason: 'SecretFilesFailed', message: `Cannot write the app's secret files: ${(err as Error).message}` });
      }
    }
    this.prepareVolumes();
    for (const s of this.sidecars) s.start();
    this.startSelfForward();
    this.maybeStartApp();
  }

  /** The persistent volumes' directories, before any process that uses them starts (kept when they exist). */
  private prepareVolumes(): void {
    const volumes = this.spec.main.volumes ?? [];
    if (volumes.length === 0) return;
    try {
      if (this.stateDir === undefined) throw new Error('the node agent has no state directory');
      prepareVolumeDirs(this.stateDir, volumes, this.spec.main.user);
    } catch (err) {
      this.hooks.event({ type: 'Warning', reason: 'VolumeFailed', message: `Cannot prepare a persistent volume: ${(err as Error).message}` });
    }
  }

  /** True while this instance should receive traffic. */
  get serving(): boolean {
    return this.phase === 'running' && this.ready && this.sidecarsListening && this.elsewhere === undefined;
  }

  /** Where this node's forwarder sends the service's connections: the app itself when the agent serves HOST:<spec port>, else that address (the sidecar). */
  get endpoint(): { id: string; host: string; port: number } | undefined {
    if (this.spec.port === undefined) return undefined;
    if (this.selfForward && this.listen) return { id: this.id, host: this.listen.address(), port: this.listen.port };
    return { id: this.id, host: this.spec.host, port: this.spec.port };
  }

  /** Without a sidecar on HOST:<spec port>, the agent pipes that address to the app's PORT itself. */
  private startSelfForward(): void {
    const port = this.spec.port;
    if (!this.listen || port === undefined || this.sidecars.some((s) => s.template.listenPort === port)) return;
    this.selfForward = forwardInstance(
      { name: this.service, host: this.spec.host, port },
      () => (this.app.isRunning && this.listen ? { id: this.id, host: this.listen.address(), port: this.listen.port } : undefined),
      { event: (e) => this.hooks.event({ type: e.type, reason: e.reason, message: e.message }), connectFailed: () => this.listen?.invalidate() },
    );
  }

  /**
   * The app exited: when a listener it does not own holds its PORT (another program took the
   * number), the instance moves to a new PORT before the restart; sidecars that were given the
   * port (`$(PORT)`, the mesh proxy) restart with it.
   */
  private movePortIfTaken(): void {
    const old = this.privatePort;
    if (old === undefined || !this.hooks.reassignPort || this.phase !== 'running') return;
    const holders = listenSockets().filter((s) => s.port === old);
    if (holders.length === 0) return;
    const own = this.appPgid === undefined ? new Set<number>() : socketInodes(groupMembers(this.appPgid));
    if (holders.every((s) => own.has(s.inode))) return;
    const next = this.hooks.reassignPort(old);
    if (next === undefined) return;
    this.privatePort = next;
    this.listen?.stop();
    this.listen = new AppListen(this.spec.host, next, (state) => this.onListen(state));
    this.app.replaceTemplate(withPrivatePort(this.spec.main, next, true));
    this.spec.sidecars.forEach((t, i) => {
      const s = this.sidecars[i];
      s.replaceTemplate(withPrivatePort(t, next, false));
      if (Object.values(t.env).some((v) => v.includes('$(PORT)'))) s.restartGracefully();
    });
    this.hooks.event({ type: 'Warning', reason: 'PortReassigned', message: `PORT ${old} is held by another program; app ${this.app.name} restarts on PORT ${next}` });
  }

  /** Where a probe aimed at `port` goes: the spec port means the app's PORT, where the app bound it. */
  private aimProbe(port: number): { host: string; port: number } {
    const listen = this.listen;
    if (!listen || port !== this.spec.port) return { host: this.spec.host, port };
    return { host: listen.address(), port: listen.port };
  }

  private onListen(state: ListenState): void {
    const was = this.elsewhere;
    this.elsewhere = state.kind === 'elsewhere' ? state.on : undefined;
    if (state.kind === 'elsewhere' && this.phase === 'running') {
      this.hooks.event({
        type: 'Warning',
        reason: 'PortMismatch',
        message: `App ${this.app.name} listens on ${state.on.join(', ')} but not on its PORT ${this.privatePort}: it stays not ready until it listens on PORT (process.env.PORT, any address); HOST:${this.spec.port ?? '-'} forwards there`,
      });
    }
    if ((was === undefined) !== (this.elsewhere === undefined)) this.updateServing(this.elsewhere ? `app listens on ${this.elsewhere.join(', ')}, not on PORT ${this.privatePort}` : `app listens on PORT ${this.privatePort}`);
    this.hooks.changed();
  }

  private get sidecarsListening(): boolean {
    return this.sidecars.every((s) => s.template.listenPort === undefined || this.listening.has(s));
  }

  /** After a traffic sidecar (re)starts: poll its port until it accepts a connection. */
  private watchListen(s: SupervisedProcess): void {
    const port = s.template.listenPort;
    if (port === undefined) return;
    this.listening.delete(s);
    clearTimeout(this.listenTimers.get(s));
    const probe = new TcpProbe({ host: this.spec.host, port });
    const attempt = (): void => {
      this.listenTimers.delete(s);
      if (this.phase !== 'running' || !s.isRunning) return;
      void probe.check({ timeoutMs: 500 }).then((r) => {
        if (this.phase !== 'running' || !s.isRunning) return;
        if (!r.ok) {
          this.listenTimers.set(s, setTimeout(attempt, LISTEN_POLL_MS));
          return;
        }
        this.listening.add(s);
        this.updateServing(`sidecar ${s.name} listening`);
      });
    };
    attempt();
  }

  get isStopping(): boolean {
    return this.phase !== 'running';
  }

  /** Memory limit of the app's group in bytes, if any. */
  get memoryLimitBytes(): number | undefined {
    return this.spec.memoryMiB !== undefined && this.spec.memoryMiB > 0 ? this.spec.memoryMiB * 1024 * 1024 : undefined;
  }

  /** Called by the memory watcher with the app group's resident memory. */
  checkMemory(rssBytes: number): void {
    const limit = this.memoryLimitBytes;
    if (limit === undefined || this.phase !== 'running' || !this.app.isRunning || rssBytes <= limit) return;
    const mib = (n: number): string => (n / 1024 / 1024).toFixed(1);
    this.hooks.event({ type: 'Warning', reason: 'OOMKilled', message: `app ${this.app.name} used ${mib(rssBytes)} MiB, above its limit of ${this.spec.memoryMiB} MiB; killing its process group` });
    this.app.kill('OOMKilled');
  }

  /** Running sidecars with a memory limit of their own (e.g. the log agent). */
  limitedSidecars(): SupervisedProcess[] {
    if (this.phase !== 'running') return [];
    return this.sidecars.filter((s) => s.memoryLimitBytes !== undefined && s.isRunning && s.pid !== undefined);
  }

  /** Called by the memory watcher with a limited sidecar's group memory: over the limit, only that sidecar restarts. */
  checkSidecarMemory(s: SupervisedProcess, rssBytes: number): void {
    const limit = s.memoryLimitBytes;
    if (limit === undefined || this.phase !== 'running' || !s.isRunning || rssBytes <= limit) return;
    const mib = (n: number): string => (n / 1024 / 1024).toFixed(1);
    this.hooks.event({ type: 'Warning', reason: 'OOMKilled', message: `sidecar ${s.name} used ${mib(rssBytes)} MiB, above its limit of ${mib(limit)} MiB; killing its process group (the app keeps running)` });
    s.kill('OOMKilled');
  }

  /** Restarts the sidecars called `name` (SIGTERM; they come back by themselves); the app is untouched. */
  restartSidecar(name: string): number[] {
    const pids: number[] = [];
    for (const s of this.sidecars) if (s.name === name && s.pid !== undefined && s.restartGracefully()) pids.push(s.pid);
    return pids;
  }

  /** Every process of the group that currently runs (for processes.json). */
  runningProcesses(): RunningProcessRecord[] {
    const out: RunningProcessRecord[] = [];
    const add = (p: SupervisedProcess, role: 'app' | 'sidecar'): void => {
      if (p.pid !== undefined) out.push({ instance: this.id, name: p.name, role, pid: p.pid, startTime: p.startTime, pgid: p.pid });
    };
    for (const s of this.sidecars) add(s, 'sidecar');
    add(this.app, 'app');
    return out;
  }

  /** Stops the group: out of rotation first, then the app (SIGTERM, grace, SIGKILL), then the sidecars. */
  stop(): Promise<void> {
    if (this.stopPromise) return this.stopPromise;
    this.stopPromise = this.doStop();
    return this.stopPromise;
  }

  private async doStop(): Promise<void> {
    this.phase = 'stopping';
    this.ready = false;
    this.servingReported = false;
    this.listen?.stop();
    // Established connections drain with the app; no new ones are accepted.
    this.selfForward?.close();
    for (const t of this.listenTimers.values()) clearTimeout(t);
    this.listenTimers.clear();
    this.disposeProbes();
    this.hooks.changed();
    const grace = Math.max(0, this.spec.stopGracePeriodSeconds);
    this.hooks.event({ type: 'Normal', reason: 'Killing', message: `Stopping instance (grace period ${grace}s)` });
    const killAt = performance.now() + grace * 1000;
    await this.app.stop(killAt);
    if (this.secretsRoot !== undefined) removeSecretFiles(this.secretsRoot, this.id);
    // Sidecars get what is left of the grace period, but at least a moment to act on their SIGTERM
    // (an app that used the whole period must not make the proxy or log agent die mid-flush).
    const sidecarKillAt = Math.max(killAt, performance.now() + SIDECAR_MIN_GRACE_MS);
    await Promise.all(this.sidecars.map((s) => s.stop(sidecarKillAt)));
    this.selfForward?.close(true);
    this.phase = 'stopped';
    this.hooks.event({ type: 'Normal', reason: 'Stopped', message: `Stopped instance ${this.id}` });
    this.hooks.changed();
  }

  private async stopSidecars(): Promise<void> {
    const killAt = performance.now() + Math.max(0, this.spec.stopGracePeriodSeconds) * 1000;
    await Promise.all(this.sidecars.map((s) => s.stop(killAt)));
  }

  /** What GET /instances reports. */
  observe(): InstanceObserved {
    const { status, message } = this.status();
    const o: InstanceObserved = {
      id: this.id,
      service: this.service,
      revision: this.revision,
      status,
      ready: this.serving,
      restarts: this.app.restarts,
      startedAt: this.createdAt,
      host: this.spec.host,
      main: this.app.observe(),
      sidecars: this.sidecars.map((s) => s.observe()),
    };
    if (this.app.isRunning) o.pid = this.app.pid;
    if (this.spec.port !== undefined) o.port = this.spec.port;
    if (this.privatePort !== undefined) o.appPort = this.privatePort;
    if (message) o.message = message;
    return o;
  }

  private status(): { status: InstanceStatus; message?: string } {
    if (this.phase === 'stopping') return { status: 'stopping', message: 'stopping' };
    if (this.phase === 'stopped') return { status: 'stopped', message: 'stopped' };
    const app = this.app;
    if (app.state === 'running') {
      if (this.ready && this.serving) return { status: 'ready' };
      if (this.elsewhere) return { status: this.everReadyThisRun ? 'unready' : 'starting', message: `app listens on ${this.elsewhere.join(', ')}, not on its PORT ${this.privatePort}` };
      if (this.ready) return { status: 'starting', message: `waiting for sidecar ${this.sidecars.filter((x) => x.template.listenPort !== undefined && !this.listening.has(x)).map((x) => x.name).join(', ')} to listen` };
      const failing = this.runners.find((r) => r.verdict === 'failure' || (r.lastMessage && r.verdict !== 'success'));
      const detail = failing ? `${PROBE_LABEL[failing.kind]} probe: ${failing.lastMessage}` : undefined;
      if (this.everReadyThisRun) return { status: 'unready', message: detail ?? 'readiness probe failing' };
      return { status: 'starting', message: detail ?? (this.startupPassed ? 'waiting for readiness' : 'waiting for startup probe') };
    }
    if (app.state === 'waiting') {
      if (app.backoffUntil !== undefined) {
        const left = Math.max(0, (app.backoffUntil - performance.now()) / 1000);
        const why = app.lastExit ? `; last exit ${describeExit(app.lastExit)}` : '';
        return { status: 'crashloop', message: `back-off ${left.toFixed(1)}s restarting failed app${why}` };
      }
      const waitingFor = this.sidecars.filter((s) => !s.isRunning).map((s) => s.name);
      return { status: 'pending', message: waitingFor.length ? `waiting for sidecars: ${waitingFor.join(', ')}` : 'starting app' };
    }
    const why = app.lastExit ? describeExit(app.lastExit) : 'exited';
    return { status: 'stopped', message: `app exited (${why}); restart policy ${this.spec.restart.policy}` };
  }

  private maybeStartApp(): void {
    if (this.appStarted || this.phase !== 'running') return;
    if (!this.sidecars.every((s) => s.isRunning)) return;
    this.appStarted = true;
    this.app.start();
  }

  private appHooks(): SupervisedProcessHooks {
    return {
      onStarted: (p) => {
        this.ready = false;
        this.servingReported = false;
        this.everReadyThisRun = false;
        this.hooks.event({ type: 'Normal', reason: 'Started', message: `Started app ${p.name} (pid ${p.pid})${p.restarts > 0 ? `, restart ${p.restarts}` : ''}${this.privatePort !== undefined ? ` on PORT ${this.privatePort}` : ''}` });
        this.appPgid = p.pid;
        if (p.pid !== undefined) this.listen?.appStarted(p.pid);
        this.startProbes(p.startedAtMono);
      },
      onExited: (p, exit, restartInMs) => {
        this.disposeProbes();
        this.listen?.appExited();
        this.ready = false;
        this.servingReported = false;
        if (this.phase !== 'running') return;
        if (restartInMs !== undefined) this.movePortIfTaken();
        const next = restartInMs === undefined ? 'not restarting' : restartInMs === 0 ? 'restarting now' : `restarting in ${(restartInMs / 1000).toFixed(1)}s`;
        const type = exit.reason === 'Completed' ? 'Normal' : 'Warning';
        this.hooks.event({ type, reason: 'Exited', message: `App ${p.name} exited (${describeExit(exit)}); ${next}` });
        if (restartInMs !== undefined && restartInMs > 0) {
          this.hooks.event({ type: 'Warning', reason: 'BackOff', message: `Back-off ${(restartInMs / 1000).toFixed(1)}s restarting failed app ${p.name}` });
        }
        // The app is done for good (restart policy): like a completed pod, its sidecars are stopped too.
        if (restartInMs === undefined) void this.stopSidecars();
      },
      onChange: () => this.hooks.changed(),
    };
  }

  private sidecarHooks(): SupervisedProcessHooks {
    return {
      onStarted: (p) => {
        if (p.restarts > 0) this.hooks.event({ type: 'Normal', reason: 'SidecarRestarted', message: `Restarted sidecar ${p.name} (pid ${p.pid}), restart ${p.restarts}` });
        else this.hooks.event({ type: 'Normal', reason: 'Started', message: `Started sidecar ${p.name} (pid ${p.pid})` });
        this.watchListen(p);
        this.maybeStartApp();
      },
      onExited: (p, exit, restartInMs) => {
        if (this.listening.delete(p)) this.updateServing(`sidecar ${p.name} exited`);
        if (this.phase !== 'running' || p.isStopping) return;
        const next = restartInMs === undefined ? 'not restarting' : restartInMs === 0 ? 'restarting now' : `restarting in ${(restartInMs / 1000).toFixed(1)}s`;
        this.hooks.event({ type: 'Warning', reason: 'Exited', message: `Sidecar ${p.name} exited (${describeExit(exit)}); ${next}` });
        if (restartInMs !== undefined && restartInMs > 0) {
          this.hooks.event({ type: 'Warning', reason: 'BackOff', message: `Back-off ${(restartInMs / 1000).toFixed(1)}s restarting failed sidecar ${p.name}` });
        }
      },
      onChange: () => this.hooks.changed(),
    };
  }

  private startProbes(startedAtMono: number): void {
    this.disposeProbes();
    const { startup } = this.spec.probes;
    this.startupPassed = !startup;
    if (startup) this.runners.push(this.makeRunner('startup', startup, startedAtMono));
    else this.startGatedProbes(startedAtMono);
  }

  /** Liveness and readiness, which run only once startup has passed. */
  private startGatedProbes(startedAtMono: number): void {
    const { readiness, liveness } = this.spec.probes;
    if (liveness) this.runners.push(this.makeRunner('liveness', liveness, startedAtMono));
    if (readiness) this.runners.push(this.makeRunner('readiness', readiness, startedAtMono));
    else this.setReady(true, 'started');
  }

  private makeRunner(kind: ProbeKind, config: ProbeConfig, startedAtMono: number): ProbeRunner {
    const probe = createProbe(config.handler, { host: this.spec.host, env: this.app.env, cwd: this.app.cwd, ...(this.app.template.user !== undefined ? { user: this.app.template.user } : {}), aim: (port) => this.aimProbe(port) }, config.periodSeconds);
    return new ProbeRunner(kind, config, probe, startedAtMono, (verdict, message, runner) => this.onProbeVerdict(runner, verdict, message));
  }

  private onProbeVerdict(runner: ProbeRunner, verdict: 'success' | 'failure', message: string): void {
    if (this.phase !== 'running' || !this.runners.includes(runner)) return;
    const label = PROBE_LABEL[runner.kind];
    if (runner.kind === 'readiness') {
      this.setReady(verdict === 'success', `${label} probe ${verdict === 'success' ? 'succeeded' : 'failed'}: ${message}`);
      return;
    }
    if (verdict === 'success') {
      if (runner.kind === 'startup' && !this.startupPassed) {
        this.startupPassed = true;
        this.runners = this.runners.filter((r) => r !== runner);
        runner.dispose();
        this.startGatedProbes(this.app.startedAtMono);
        this.hooks.changed();
      }
      return;
    }
    // Startup or liveness failed failureThreshold times: as kubelet does, SIGTERM the app's group and SIGKILL it
    // only after the grace period; the restart policy decides the rest.
    const grace = Math.max(0, this.spec.stopGracePeriodSeconds);
    this.hooks.event({ type: 'Warning', reason: 'Unhealthy', message: `${label} probe failed ${runner.consecutiveFailures} times: ${message}` });
    this.hooks.event({ type: 'Normal', reason: 'Killing', message: `App ${this.app.name} failed ${runner.kind} probe, will be restarted (SIGTERM, grace period ${grace}s)` });
    this.disposeProbes();
    this.setReady(false, `${label} probe failed`);
    this.app.terminate('Unhealthy', performance.now() + grace * 1000);
  }

  private setReady(ready: boolean, message: string): void {
    if (this.ready === ready) return;
    this.ready = ready;
    this.updateServing(message);
    this.hooks.changed();
  }

  /** Reports a change of `serving` (app ready and traffic sidecars listening) as a Ready/Unready event. */
  private updateServing(message: string): void {
    const serving = this.serving;
    if (serving === this.servingReported) return;
    this.servingReported = serving;
    if (serving) {
      this.everReadyThisRun = true;
      this.hooks.event({ type: 'Normal', reason: 'Ready', message: `Instance ready (${message})` });
    } else if (this.app.isRunning && this.everReadyThisRun) {
      this.hooks.event({ type: 'Warning', reason: 'Unready', message: `Instance not ready (${message})` });
    }
    this.hooks.changed();
  }

  private disposeProbes(): void {
    for (const r of this.runners) r.dispose();
    this.runners = [];
  }
}
