// Where an instance's app listens. The app gets a private, machine-unique PORT and may bind it on
// any address; this tracks which address reaches it (for probes and the node agent's instance
// forwarder) and notices an app that listens on ports of its own but not on PORT (reported by the
// instance: not ready, with the port it was seen on). Reads /proc/net/tcp* and the app group's
// /proc/PID/fd; polls only while the app has not been seen on PORT since its last start.
import { connectAddress, formatListen, listenSockets, socketInodes, type ListenSocket } from '../lib/listen-sockets.js';
import { groupMembers } from '../lib/proc.js';

/** Poll period while the app starts; slower after START_PHASE_MS (an app that never binds costs little). */
const POLL_FAST_MS = 200;
const POLL_SLOW_MS = 1000;
const START_PHASE_MS = 10_000;
/** An app seen on other ports only this long after its start is reported (it may bind an admin port just before PORT). */
const ELSEWHERE_AFTER_MS = 1000;
/** A cached "nothing listens on PORT" is re-read at most this often when someone asks. */
const REREAD_MS = 200;

export type ListenState =
  | { kind: 'unknown' }
  | { kind: 'listening'; address: string }
  /** The app's group listens, but not on PORT: `on` lists where (e.g. `127.0.0.1:8080`). */
  | { kind: 'elsewhere'; on: string[] };

export class AppListen {
  private state: ListenState = { kind: 'unknown' };
  private target: string | undefined;
  private readAt = -Infinity;
  private timer: NodeJS.Timeout | undefined;
  private startedAt = 0;
  private pgid: number | undefined;

  constructor(
    /** The instance's own address (HOST). */
    readonly host: string,
    /** The app's private PORT. */
    readonly port: number,
    private readonly onChange: (state: ListenState) => void,
  ) {}

  /** The app (re)started as process group `pgid`: forget what was seen, watch again. */
  appStarted(pgid: number): void {
    this.stop();
    this.pgid = pgid;
    this.target = undefined;
    this.readAt = -Infinity;
    this.startedAt = performance.now();
    this.set({ kind: 'unknown' });
    this.poll();
  }

  /** The app exited: stop watching. */
  appExited(): void {
    this.stop();
    this.pgid = undefined;
    this.set({ kind: 'unknown' });
  }

  stop(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
  }

  get current(): ListenState {
    return this.state;
  }

  /** The address to connect to for PORT: where the app bound it, or HOST while unknown. */
  address(): string {
    if (this.target === undefined && performance.now() - this.readAt >= REREAD_MS) this.read(listenSockets());
    return this.target ?? this.host;
  }

  /** A connection to address() failed: look again on the next call (the app may have rebound elsewhere). */
  invalidate(): void {
    this.target = undefined;
    this.readAt = -Infinity;
  }

  private read(sockets: ListenSocket[]): void {
    this.readAt = performance.now();
    this.target = connectAddress(sockets, this.port, this.host);
  }

  private poll(): void {
    this.timer = undefined;
    const pgid = this.pgid;
    if (pgid === undefined) return;
    const sockets = listenSockets();
    this.read(sockets);
    if (this.target !== undefined) {
      this.set({ kind: 'listening', address: this.target });
      return; // seen on PORT: nothing more to watch until the app restarts
    }
    const inodes = socketInodes(groupMembers(pgid));
    const own = sockets.filter((s) => inodes.has(s.inode));
    const settled = performance.now() - this.startedAt >= ELSEWHERE_AFTER_MS;
    this.set(own.length > 0 && settled ? { kind: 'elsewhere', on: [...new Set(own.map(formatListen))].sort() } : { kind: 'unknown' });
    const period = performance.now() - this.startedAt < START_PHASE_MS ? POLL_FAST_MS : POLL_SLOW_MS;
    this.timer = setTimeout(() => this.poll(), period);
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
