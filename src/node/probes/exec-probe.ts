// Exec probe: runs argv with the instance's environment and working directory; exit 0 is success.
// The command runs in its own process group, killed as a whole on timeout, and as the instance's OS
// user (the app's `user:`): a probe run as the agent's root could read `.berth/token` (docs/security.md).
import { spawn, type ChildProcessByStdio } from 'node:child_process';
import type { Readable } from 'node:stream';
import { killGroup } from '../../lib/proc.js';
import { resolveUser, type ResolvedUser } from '../../lib/users.js';
import type { Probe, ProbeCheckOptions, ProbeResult } from './probe.js';
import { errorMessage, timeoutSignal } from './probe.js';

const MAX_OUTPUT = 1024;

export class ExecProbe implements Probe {
  readonly kind = 'exec';
  /** `user`: the instance's OS user (a name or uid[:gid]); absent: the agent's own user. */
  constructor(private readonly target: { command: string[]; env: NodeJS.ProcessEnv; cwd: string; user?: string }) {}

  check(options: ProbeCheckOptions): Promise<ProbeResult> {
    const [file, ...args] = this.target.command;
    if (!file) return Promise.resolve({ ok: false, message: 'empty exec command' });
    let ids: ResolvedUser | Record<string, never> = {};
    try {
      // Resolved at every check, as the app is at every start: /etc/passwd may change while the instance runs.
      if (this.target.user !== undefined) ids = resolveUser(this.target.user);
    } catch (err) {
      return Promise.resolve({ ok: false, message: errorMessage(err) }); // never run the probe as root instead
    }
    const timer = timeoutSignal(options);
    return new Promise<ProbeResult>((resolve) => {
      let settled = false;
      let output = '';
      let child: ChildProcessByStdio<null, Readable, Readable>;
      try {
        child = spawn(file, args, { cwd: this.target.cwd, env: this.target.env, detached: true, stdio: ['ignore', 'pipe', 'pipe'], ...ids });
      } catch (err) {
        // Synchronous spawn failures (e.g. EPERM switching users): a failed check, not a crashed agent.
        timer.done();
        resolve({ ok: false, message: errorMessage(err) });
        return;
      }
      const finish = (result: ProbeResult): void => {
        if (settled) return;
        settled = true;
        timer.done();
        resolve(result);
      };
      const collect = (chunk: Buffer): void => {
        if (output.length < MAX_OUTPUT) output += chunk.toString('utf8').slice(0, MAX_OUTPUT - output.length);
      };
      child.stdout.on('data', collect);
      child.stderr.on('data', collect);
      child.once('error', (err) => finish({ ok: false, message: errorMessage(err) }));
      child.once('exit', (code, signal) => {
        if (child.pid) killGroup(child.pid, 'SIGKILL'); // leftovers of the probe command
        const detail = output.trim() ? `: ${output.trim()}` : '';
        if (code === 0) finish({ ok: true, message: `exit 0${detail}` });
        else finish({ ok: false, message: `${signal ? `signal ${signal}` : `exit ${code}`}${detail}` });
      });
      timer.signal.addEventListener(
        'abort',
        () => {
          if (child.pid) killGroup(child.pid, 'SIGKILL');
          finish({ ok: false, message: errorMessage(timer.signal.reason) });
        },
        { once: true },
      );
    });
  }
}
