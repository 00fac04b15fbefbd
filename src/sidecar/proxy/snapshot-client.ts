// Keeps the proxy's configuration: the last good MeshSnapshot, from the control plane's watch stream
// (GET /api/v1/mesh/watch), persisted to a file so a restarted proxy serves before the control plane
// is back. The control plane is found through the state directory on every reconnect (its port
// changes when it restarts); while it is down the proxy keeps routing with what it has. The control
// plane sends heartbeats on the stream: when they stop (a hung control plane, a half-open
// connection), the stream is dropped and opened again, the last snapshot still in force.
import { existsSync, mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { readJsonFile, writeJsonAtomic } from '../../lib/files.js';
import { sidecarBearer } from '../../lib/sidecar-credential.js';
import { requestJson, subscribeSse } from '../../lib/http.js';
import { MESH_HEARTBEAT_MS, MESH_IDLE_HEARTBEATS, type MeshActivation, type MeshSnapshot } from '../../lib/mesh-protocol.js';
import { MESH_RECONNECT_MAX_MS } from '../../lib/mesh-timing.js';
import { stateLayout, type ControlInfo } from '../../lib/state-dir.js';

export interface SnapshotClientOptions {
  stateDir: string;
  /** Who is watching (instance id or `berth-gateway`): named in acknowledgements. */
  proxyId: string;
  onSnapshot(snapshot: MeshSnapshot): void;
  log(msg: string): void;
}

const RECONNECT_MIN_MS = 200;
/**
 * A watch stream counts as established (the reconnect back-off starts again from its minimum) once it
 * stayed open this long: a control plane that accepts the stream and ends it at once is retried with
 * a growing delay, not every RECONNECT_MIN_MS for ever.
 */
const STREAM_STABLE_MS = 5000;
/** Shared with the control plane, whose withdraw protocol waits at least this long for a reconnecting proxy. */
const RECONNECT_MAX_MS = MESH_RECONNECT_MAX_MS;

export class SnapshotClient {
  private closeStream: (() => void) | undefined;
  private timer: NodeJS.Timeout | undefined;
  private delay = RECONNECT_MIN_MS;
  private stopped = false;
  private connectedOnce = false;
  /** When the watch stream now open opened (performance.now()). */
  private openedAt = 0;
  /** The loss of the control plane was logged; cleared by the next stream's first event. */
  private lossLogged = false;
  /** Fires when the stream stayed silent too long (from its opening, and again after each event). */
  private idle: NodeJS.Timeout | undefined;
  /** Silence that ends a stream: a few of the control plane's heartbeat intervals (its default until it says its own). */
  private idleMs = MESH_HEARTBEAT_MS * MESH_IDLE_HEARTBEATS;
  /** The duration the idle timer was armed with. */
  private armedMs = 0;
  readonly file: string;
  current: MeshSnapshot | undefined;
  /** The control plane (pid and start time) that sent `current`: its versions only grow. */
  private currentFrom: string | undefined;

  constructor(private readonly opts: SnapshotClientOptions) {
    this.file = join(opts.stateDir, 'mesh', `${opts.proxyId}.json`);
  }

  start(): void {
    const saved = readJsonFile<MeshSnapshot>(this.file);
    const problem = saved ? this.apply(saved) : 'truncated or garbage';
    if (problem === undefined) this.opts.log(`serving saved snapshot version ${saved!.version} until the control plane answers`);
    else if (existsSync(this.file)) this.opts.log(`ignoring the saved snapshot ${this.file}: not a valid snapshot (${problem}); waiting for the control plane`);
    void this.connect();
  }

  /**
   * Puts `snap` in force: undefined when it is, else why not (the last good snapshot stays in force).
   * A snapshot the proxy cannot compile (an element of the wrong shape) must not end the process: every
   * proxy of the mesh gets the same one.
   */
  private apply(snap: MeshSnapshot): string | undefined {
    if (typeof snap !== 'object' || snap === null || typeof snap.version !== 'number' || !Array.isArray(snap.services) || typeof snap.config !== 'object' || snap.config === null) return 'not a snapshot';
    try {
      this.opts.onSnapshot(snap);
    } catch (err) {
      return (err as Error).message;
    }
    this.current = snap;
    return undefined;
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    if (this.idle) clearTimeout(this.idle);
    this.closeStream?.();
  }

  /** Asks the control plane to start an instance of `service` (scaled to zero); rejects when it cannot be reached. */
  async activate(service: string): Promise<void> {
    const layout = this.layout();
    const info = readJsonFile<ControlInfo>(layout.controlInfo);
    const token = sidecarBearer(layout.token);
    if (!info || !token) throw new Error('control plane not found');
    await requestJson<MeshActivation>({ port: info.port, token, timeoutMs: 5000 }, 'POST', '/api/v1/mesh/activate', { service, proxy: this.opts.proxyId });
  }

  /** POSTs to the control plane with the sidecar credential (span batches); rejects when it cannot be reached or `signal` aborts it. */
  async post(path: string, body: unknown, signal?: AbortSignal): Promise<unknown> {
    const layout = this.layout();
    const info = readJsonFile<ControlInfo>(layout.controlInfo);
    const token = sidecarBearer(layout.token);
    if (!info || !token) throw new Error('control plane not found');
    return requestJson({ port: info.port, token, timeoutMs: 5000, signal }, 'POST', path, body);
  }

  private layout() {
    return stateLayout(this.opts.stateDir);
  }

  private async connect(): Promise<void> {
    if (this.stopped) return;
    const layout = this.layout();
    const info = readJsonFile<ControlInfo>(layout.controlInfo);
    const token = sidecarBearer(layout.token);
    if (!info || !token) return this.retry('control plane not found');
    const from = `${info.pid}:${info.startTime}`;
    try {
      this.closeStream = await subscribeSse(
        // A control plane that accepts the connection and never answers is given up like a silent stream.
        { port: info.port, token, timeoutMs: this.idleMs },
        `/api/v1/mesh/watch?proxy=${encodeURIComponent(this.opts.proxyId)}`,
        (event, data) => {
          if (event === 'heartbeat') this.heartbeat(data);
          else if (event === 'snapshot') this.receive(data, info.port, token, from);
          this.lossLogged = false;
          this.rearm();
        },
        () => {
          this.closeStream = undefined;
          this.disarm();
          this.retry('watch stream closed');
        },
      );
      // The silence is timed from the stream's opening: one that never sends an event is dropped too.
      this.openedAt = performance.now();
      this.rearm();
      if (!this.connectedOnce) this.opts.log(`watching the control plane on port ${info.port}`);
      this.connectedOnce = true;
    } catch (err) {
      this.retry((err as Error).message);
    }
  }

  /** A heartbeat says the interval; silence for MESH_IDLE_HEARTBEATS of them ends the stream. */
  private heartbeat(data: string): void {
    let interval = 0;
    try {
      interval = Number((JSON.parse(data) as { intervalMs?: unknown }).intervalMs);
    } catch {
      // A heartbeat without a readable interval still counts as a sign of life; the previous interval stays.
    }
    if (Number.isFinite(interval) && interval > 0) this.idleMs = Math.min(interval * MESH_IDLE_HEARTBEATS, 2 ** 31 - 1);
  }

  private rearm(): void {
    if (this.idleMs <= 0) return;
    // refresh() keeps the timer's first duration: a changed interval needs a new timer.
    if (this.idle && this.armedMs === this.idleMs) this.idle.refresh();
    else {
      if (this.idle) clearTimeout(this.idle);
      this.armedMs = this.idleMs;
      this.idle = setTimeout(() => {
        this.idle = undefined;
        const close = this.closeStream;
        this.closeStream = undefined;
        close?.();
        this.retry(`no heartbeat for ${this.idleMs} ms`);
      }, this.idleMs);
      this.idle.unref();
    }
  }

  private disarm(): void {
    if (this.idle) clearTimeout(this.idle);
    this.idle = undefined;
  }

  private retry(why: string): void {
    if (this.stopped || this.timer) return;
    if (this.openedAt > 0 && performance.now() - this.openedAt >= STREAM_STABLE_MS) this.delay = RECONNECT_MIN_MS;
    this.openedAt = 0;
    if (this.connectedOnce && !this.lossLogged) {
      this.lossLogged = true;
      this.opts.log(`control plane unreachable (${why}); routing with snapshot ${this.current?.version ?? 'none'}`);
    }
    this.timer = setTimeout(() => {
      this.timer = undefined;
      void this.connect();
    }, this.delay);
    this.delay = Math.min(RECONNECT_MAX_MS, this.delay * 2);
  }

  private receive(data: string, port: number, token: string, from: string): void {
    let snap: MeshSnapshot;
    try {
      snap = JSON.parse(data) as MeshSnapshot;
    } catch (err) {
      this.opts.log(`ignoring a bad snapshot: ${(err as Error).message}`);
      return;
    }
    const current = this.current;
    if (current && from === this.currentFrom && typeof snap?.version === 'number' && snap.version < current.version) {
      // The same control plane never goes back (a late duplicate, a bug): keep the newer one. A new
      // control plane (restarted, its clock set back) is believed whatever its versions.
      this.opts.log(`ignoring snapshot version ${snap.version}: older than version ${current.version} in force`);
      return;
    }
    if (current?.version === snap?.version) this.currentFrom = from;
    else {
      const problem = this.apply(snap);
      if (problem !== undefined) {
        this.opts.log(`ignoring a bad snapshot${typeof snap?.version === 'number' ? ` version ${snap.version}` : ''}: ${problem}; routing with snapshot ${current?.version ?? 'none'}`);
        return;
      }
      this.currentFrom = from;
      try {
        mkdirSync(dirname(this.file), { recursive: true });
        writeJsonAtomic(this.file, snap);
      } catch (err) {
        this.opts.log(`cannot save snapshot: ${(err as Error).message}`);
      }
    }
    // An acknowledgement lost with a control plane going away is sent again with the next snapshot it streams (every reconnect starts with one).
    requestJson({ port, token, timeoutMs: 5000 }, 'POST', '/api/v1/mesh/ack', { proxy: this.opts.proxyId, version: snap.version }).catch(() => {});
  }
}
