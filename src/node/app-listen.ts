// Where an instance's app listens. The app gets a private, machine-unique PORT and may bind it on
// any address; this finds the address that reaches it (for probes and the node agent's instance
// forwarder) by connecting, and notices an app that listens on ports of its own but not on PORT
// (reported by the instance: not ready, with the port it was seen on) from the app's open sockets
// (/proc/PID/fd) matched to /proc/net/tcp*. It watches only until the app is seen on PORT after a start.
import { findListener, formatListen, listenSockets, socketInodes, type ListenSocket } from '../lib/listen-sockets.js';
import { childPids } from '../lib/proc.js';

/** Connect attempts on PORT while the app starts, then slower (an app that never binds costs little). */
const POLL_FAST_MS = 100;
const POLL_SLOW_MS = 1000;
const START_PHASE_MS = 10_000;
/** An app seen on other ports only this long after its start is reported (it may bind an admin port just before PORT). */
const ELSEWHERE_AFTER_MS = 1000;
/** /proc/net/tcp* is read at most this often per instance (tens of ms on a busy machine). */
const TABLES_EVERY_MS = 2000;

export type ListenState =
  | { kind: 'unknown' }
  | { kind: 'listening'; address: string }
  /** The app's processes listen, but not on PORT: `on` lists where (e.g. `127.0.0.1:8080`). */
  | { kind: 'elsewhere'; on: string[] };

/** The app's leader and its descendants (found through /proc/PID/task/PID/children, no full /proc scan). */
function processTree(leader: number): number[] {
  const out: number[] = [];
  const queue = [leader];
  while (queue.length > 0 && out.length < 1000) {
    const pid = queue.shift()!;
    out.push(pid);
    queue.push(...(childPids(pid) ?? []));
  }
  return out;
}

/** How AppListen looks for the app: a connection on PORT, and the listening sockets the app's processes hold. */
export interface ListenLook {
  find(port: number, host: string): Promise<string | undefined>;
  own(pid: number): ListenSocket[];
}

const SYSTEM_LOOK: ListenLook = {
  find: (port, host) => findListener(port, host),
  own: (pid) => {
    const inodes = socketInodes(processTree(pid));
    return inodes.size === 0 ? [] : listenSockets().filter((s) => inodes.has(s.inode));
  },
};

export class AppListen {
  private state: ListenState = { kind: 'unknown' };
  private target: string | undefined;
  private timer: NodeJS.Timeout | undefined;
  private polling = false;
  private startedAt = 0;
  private tablesReadAt = -Infinity;
  private pid: number | undefined;
  /** Bumped on every (re)start and stop: a poll that finishes for an older run is ignored. */
  private run = 0;

  constructor(
    /** The instance's own address (HOST). */
    readonly host: string,
    /** The app's private PORT. */
    readonly port: number,
    private readonly onChange: (state: ListenState) => void,
    private readonly look: ListenLook = SYSTEM_LOOK,
  ) {}

  /** The app (re)started as `pid`: forget what was seen, watch again. */
  appStarted(pid: number): void {
    this.stop();
    this.pid = pid;
    this.target = undefined;
    this.startedAt = performance.now();
    this.tablesReadAt = -Infinity;
    this.set({ kind: 'unknown' });
    this.schedule(0);
  }

  /** The app exited: stop watching. */
  appExited(): void {
    this.stop();
    this.pid = undefined;
    this.target = undefined;
    this.set({ kind: 'unknown' });
  }

  stop(): void {
    this.run++;
    clearTimeout(this.timer);
    this.timer = undefined;
    this.polling = false;
  }

  get current(): ListenState {
    return this.state;
  }

  /** The address to connect to for PORT: where the app was found, or HOST until then. */
  address(): string {
    return this.target ?? this.host;
  }

  /** A connection to address() failed: look for the app again (it may have rebound elsewhere). */
  invalidate(): void {
    if (this.pid === undefined || this.polling || this.timer) return;
    this.target = undefined;
    this.schedule(0);
  }

  private schedule(ms: number): void {
    const run = this.run;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      void this.poll(run);
    }, ms);
  }

  private async poll(run: number): Promise<void> {
    this.polling = true;
    const found = await this.look.find(this.port, this.host);
    if (run !== this.run || this.pid === undefined) return;
    this.polling = false;
    if (found !== undefined) {
      this.target = found;
      this.set({ kind: 'listening', address: found });
      return; // seen on PORT: nothing more to watch until the app restarts or a connection fails
    }
    const now = performance.now();
    const since = now - this.startedAt;
    if (since >= ELSEWHERE_AFTER_MS && now - this.tablesReadAt >= TABLES_EVERY_MS) {
      this.tablesReadAt = now;
      const own = this.look.own(this.pid);
      // Bound on PORT between the connection attempt and the read of the tables (a start under
      // load): not "elsewhere" — the next poll connects.
      if (own.some((s) => s.port === this.port)) this.tablesReadAt = -Infinity;
      else this.set(own.length > 0 ? { kind: 'elsewhere', on: [...new Set(own.map(formatListen))].sort() } : { kind: 'unknown' });
    }
    this.schedule(since < START_PHASE_MS ? POLL_FAST_MS : POLL_SLOW_MS);
  }

  private set(state: ListenState): void {
    const same =
      state.kind === this.state.kind &&
      (state.kind !== 'elsewhere' || (this.state.kind === 'elsewhere' && state.on.join() === this.state.on.join())) &&
      (state.kind !== 'listening' || (this.state.kind === 'listening' && state.address === this.state.address));
    this.state = state;
    if (!same) this.onChange(state);
  }
}
