// One supervised process of an instance (the app or a sidecar): spawns it as the leader of its own
// process group, captures stdout/stderr into its CRI log file, reaps it, and restarts it with back-off
// according to the restart policy. Stopping is SIGTERM to the group, grace, then SIGKILL.
import { spawn, type ChildProcess } from 'node:child_process';
import type { ProcessExit, ProcessObserved, ProcessTemplate, RestartConfig } from '../lib/agent-protocol.js';
import { groupHasLiveMembers, killGroup, readProcStat } from '../lib/proc.js';
import { resolveUser } from '../lib/users.js';
import { ranLongEnoughToReset, restartDelaySeconds, shouldRestart } from './backoff.js';
import { LogFile, type LogRotation } from './log-file.js';
import { paceSpawn } from './spawn-pacer.js';

/** Polls until group `pgid` has no live member or `deadlineMono` passes; true when it is gone. */
async function waitForGroupGone(pgid: number, deadlineMono: number): Promise<boolean> {
  for (;;) {
    if (!groupHasLiveMembers(pgid)) return true;
    if (performance.now() >= deadlineMono) return false;
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Node's timers overflow above 2^31-1 ms (and then fire after 1 ms): clamp a delay into range. */
function timerDelayMs(ms: number): number {
  return Math.min(Math.max(0, ms), 2 ** 31 - 1);
}

export interface SupervisedProcessHooks {
  /** The process was spawned (first start or restart). */
  onStarted(proc: SupervisedProcess): void;
  /** The process exited and was reaped; `restartInMs` is set when a restart is scheduled. */
  onExited(proc: SupervisedProcess, exit: ProcessExit, restartInMs: number | undefined): void;
  /** Any observable field changed. */
  onChange(): void;
}

export interface SupervisedProcessOptions {
  template: ProcessTemplate;
  restart: RestartConfig;
  logDir: string;
  logRotation: LogRotation;
  hooks: SupervisedProcessHooks;
}

/** Reason recorded for an exit the agent caused. */
export type KillReason = 'Unhealthy' | 'OOMKilled' | 'Killed';

export class SupervisedProcess {
  readonly name: string;
  state: ProcessObserved['state'] = 'waiting';
  pid: number | undefined;
  startTime: number | undefined;
  startedAt: string | undefined;
  /** Monotonic ms of the current run's start. */
  startedAtMono = 0;
  restarts = 0;
  lastExit: ProcessExit | undefined;
  /** Monotonic ms when the pending back-off ends (undefined when not backing off). */
  backoffUntil: number | undefined;

  private child: ChildProcess | undefined;
  private consecutiveRestarts = 0;
  private pendingKillReason: KillReason | undefined;
  private backoffTimer: NodeJS.Timeout | undefined;
  private stopping = false;
  /** A spawn waits in the pacer's queue. */
  private spawnQueued = false;
  /** Pending SIGKILL of a terminate() whose grace period runs. */
  private terminateTimer: NodeJS.Timeout | undefined;
  private exitWaiters: (() => void)[] = [];
  private readonly log: LogFile;

  constructor(private readonly opts: SupervisedProcessOptions) {
    this.name = opts.template.name;
    this.log = new LogFile(opts.logDir, opts.template.name, opts.logRotation);
  }

  get template(): ProcessTemplate {
    return this.opts.template;
  }

  /** Runs the process with `template` from its next start on (the instance's private PORT moved). */
  replaceTemplate(template: ProcessTemplate): void {
    this.opts.template = template;
  }

  /** The environment the process runs with: the agent's, overlaid with the template's. */
  get env(): NodeJS.ProcessEnv {
    return { ...process.env, ...this.opts.template.env };
  }

  get cwd(): string {
    return this.opts.template.cwd;
  }

  get isRunning(): boolean {
    return this.state === 'running';
  }

  get isStopping(): boolean {
    return this.stopping;
  }

  /** Spawns the process (first start) on a later turn of the event loop: spawns are paced (spawn-pacer.ts). */
  start(): void {
    if (this.stopping || this.child || this.spawnQueued) return;
    this.queueSpawn();
  }

  /** Kills the whole group with SIGKILL, recording `reason` on the exit; the restart policy then applies. */
  kill(reason: KillReason): void {
    if (!this.child || this.pid === undefined) return;
    this.pendingKillReason = reason;
    killGroup(this.pid, 'SIGKILL');
  }

  /**
   * Kills the group the way kubelet kills a container that failed its liveness probe: SIGTERM now, SIGKILL
   * at `killAtMono` if the leader has not exited by then. `reason` is recorded on the exit and the restart
   * policy then applies, as after kill().
   */
  terminate(reason: KillReason, killAtMono: number): void {
    if (!this.child || this.pid === undefined || this.stopping || this.terminateTimer) return;
    this.pendingKillReason = reason;
    const pid = this.pid;
    killGroup(pid, 'SIGTERM');
    this.terminateTimer = setTimeout(() => {
      this.terminateTimer = undefined;
      // Still the same run (handleExit clears the timer): the grace period is over.
      if (this.pid === pid) killGroup(pid, 'SIGKILL');
    }, timerDelayMs(killAtMono - performance.now()));
  }

  /** Asks the process to exit (SIGTERM to its group); the restart policy brings it back (`berth sidecar restart`). */
  restartGracefully(): boolean {
    if (!this.child || this.pid === undefined || this.stopping) return false;
    killGroup(this.pid, 'SIGTERM');
    return true;
  }

  /** Memory limit of this process's group in bytes (sidecars with `memoryMiB`). */
  get memoryLimitBytes(): number | undefined {
    const m = this.opts.template.memoryMiB;
    return m !== undefined && m > 0 ? m * 1024 * 1024 : undefined;
  }

  /** Stops for good: no more restarts; SIGTERM to the group, SIGKILL at `killAtMono` if still running. */
  async stop(killAtMono: number): Promise<void> {
    this.stopping = true;
    this.clearBackoff();
    // Not running (never started, backing off, or its restart queued): nothing to signal or wait for.
    if (!this.child || this.pid === undefined || this.state !== 'running') {
      if (this.state !== 'exited') {
        this.state = 'exited';
        this.opts.hooks.onChange();
      }
      return;
    }
    this.pendingKillReason = 'Killed';
    const pgid = this.pid;
    killGroup(pgid, 'SIGTERM');
    const exited = await this.waitForExit(killAtMono - performance.now());
    // The leader may exit before the rest of its group (e.g. a shell wrapper): they get the same grace.
    if (exited && (await waitForGroupGone(pgid, killAtMono))) return;
    killGroup(pgid, 'SIGKILL');
    if (!exited) await this.waitForExit(10_000);
    // Stopped means the whole group is gone, not just its leader: a SIGKILLed straggler takes a moment to die.
    await waitForGroupGone(pgid, performance.now() + 5000);
  }

  /** What GET /instances reports for this process. */
  observe(): ProcessObserved {
    const o: ProcessObserved = { name: this.name, state: this.state, restarts: this.restarts };
    if (this.state === 'running') {
      o.pid = this.pid;
      o.startTime = this.startTime;
      o.startedAt = this.startedAt;
    }
    if (this.lastExit) o.lastExit = this.lastExit;
    return o;
  }

  private waitForExit(timeoutMs: number): Promise<boolean> {
    if (!this.child) return Promise.resolve(true);
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.exitWaiters = this.exitWaiters.filter((w) => w !== onExit);
        resolve(false);
      }, timerDelayMs(timeoutMs));
      const onExit = (): void => {
        clearTimeout(timer);
        resolve(true);
      };
      this.exitWaiters.push(onExit);
    });
  }

  private spawnNow(): void {
    const t = this.opts.template;
    this.backoffUntil = undefined;
    this.pendingKillReason = undefined;
    let child: ChildProcess;
    const [file, ...args] = t.argv;
    try {
      const ids = t.user !== undefined ? resolveUser(t.user) : {}; // `user:` (docs/security.md); an unknown user fails the start with its message
      child = spawn(file ?? '', args, { cwd: t.cwd, env: this.env, detached: true, stdio: ['ignore', 'pipe', 'pipe'], ...ids });
    } catch (err) {
      // Synchronous spawn failure (e.g. invalid argument): treat like a failed start.
      this.startedAtMono = performance.now();
      this.handleExit(null, null, (err as Error).message);
      return;
    }
    this.child = child;
    this.startedAtMono = performance.now();
    this.startedAt = new Date().toISOString();
    this.pid = child.pid;
    this.startTime = child.pid !== undefined ? readProcStat(child.pid)?.startTime : undefined;
    const out = this.log.streamWriter('stdout');
    const err = this.log.streamWriter('stderr');
    child.stdout?.on('data', (c: Buffer) => out.write(c));
    // Pipes may close after the exit was reaped; a finished process must not keep its file open.
    const closeIfDone = (): void => {
      if (this.state === 'exited') this.log.close();
    };
    child.stdout?.on('end', () => {
      out.end();
      closeIfDone();
    });
    child.stdout?.on('error', () => {});
    child.stderr?.on('data', (c: Buffer) => err.write(c));
    child.stderr?.on('end', () => {
      err.end();
      closeIfDone();
    });
    child.stderr?.on('error', () => {});
    let exited = false;
    child.once('error', (e) => {
      if (child.pid === undefined && !exited) {
        exited = true;
        this.handleExit(null, null, e.message);
      }
    });
    child.once('exit', (code, signal) => {
      if (exited) return;
      exited = true;
      this.handleExit(code, signal, undefined);
    });
    if (child.pid !== undefined) {
      this.state = 'running';
      this.opts.hooks.onStarted(this);
      this.opts.hooks.onChange();
    }
  }

  private handleExit(code: number | null, signal: NodeJS.Signals | null, spawnError: string | undefined): void {
    const pid = this.pid;
    clearTimeout(this.terminateTimer);
    this.terminateTimer = undefined;
    // Container semantics: when the leader dies, the rest of its group goes too (on a graceful stop,
    // stop() gives them the rest of the grace period first).
    if (pid !== undefined && !this.stopping) killGroup(pid, 'SIGKILL');
    const at = new Date().toISOString();
    const exit: ProcessExit = spawnError
      ? { code: null, signal: null, reason: 'Error', at, message: `spawn failed: ${spawnError}` }
      : { code, signal, reason: this.pendingKillReason ?? (code === 0 ? 'Completed' : 'Error'), at };
    this.lastExit = exit;
    this.child = undefined;
    this.pid = undefined;
    this.startTime = undefined;
    this.pendingKillReason = undefined;
    const ranSeconds = (performance.now() - this.startedAtMono) / 1000;
    const waiters = this.exitWaiters;
    this.exitWaiters = [];

    let restartInMs: number | undefined;
    if (!this.stopping && shouldRestart(this.opts.restart.policy, exit)) {
      if (ranLongEnoughToReset(ranSeconds, this.opts.restart)) this.consecutiveRestarts = 0;
      this.consecutiveRestarts++;
      restartInMs = restartDelaySeconds(this.consecutiveRestarts, this.opts.restart) * 1000;
    }
    this.state = restartInMs === undefined ? 'exited' : 'waiting';
    if (restartInMs !== undefined && restartInMs > 0) this.backoffUntil = performance.now() + restartInMs;
    this.opts.hooks.onExited(this, this.lastExit, restartInMs);
    for (const w of waiters) w();
    if (restartInMs === undefined) {
      this.log.close();
    } else if (restartInMs === 0) {
      this.restartNow();
    } else {
      this.backoffTimer = setTimeout(() => {
        this.backoffTimer = undefined;
        this.restartNow();
      }, restartInMs);
    }
    this.opts.hooks.onChange();
  }

  private restartNow(): void {
    if (this.stopping || this.spawnQueued) return;
    this.restarts++;
    this.queueSpawn();
  }

  private queueSpawn(): void {
    this.spawnQueued = true;
    paceSpawn(() => {
      this.spawnQueued = false;
      // Stopped while queued: stop() already reported the process exited.
      if (!this.stopping) this.spawnNow();
    });
  }

  private clearBackoff(): void {
    if (this.backoffTimer) clearTimeout(this.backoffTimer);
    this.backoffTimer = undefined;
    this.backoffUntil = undefined;
  }
}
