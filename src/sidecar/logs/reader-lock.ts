// Elects one reader per shared log file among the agents of a service (replicas sharing a working
// directory, or an old and a new instance during a rollout): the reader of a source holds a lock
// named after the service and the source's fingerprint. The lock is a listening Unix socket in
// Linux's abstract namespace: only one process can bind a name, and the kernel releases it when
// that process dies, however it dies (SIGKILL, OOM), so there is no stale lock to detect. A lock
// file (O_EXCL with the holder's pid and start time) would need exactly that detection, which PID
// reuse and unreaped zombies make unreliable here (see DESIGN.md, "Hard-won details").
import { createHash } from 'node:crypto';
import net from 'node:net';

interface Lock {
  state: 'pending' | 'held' | 'busy';
  server?: net.Server;
  /** When a busy lock may be tried again (ms since epoch). */
  retryAt: number;
}

export class ReaderLocks {
  private readonly locks = new Map<string, Lock>();
  private unsupported = false;
  private closed = false;

  /**
   * @param scope what the locks are unique within (state directory and service)
   * @param onAcquired called when a lock was taken (the tailer scans again)
   */
  constructor(
    private readonly scope: string,
    private readonly onAcquired: () => void,
    private readonly log: (msg: string) => void = () => {},
    private readonly retryMs = 1000,
  ) {}

  private name(key: string): string {
    return '\0berth-logs:' + createHash('sha256').update(`${this.scope}\0${key}`).digest('hex').slice(0, 40);
  }

  /** True when this process reads `key`; otherwise starts (or retries) taking the lock and says false. */
  holds(key: string): boolean {
    if (this.unsupported) return true;
    const l = this.locks.get(key);
    if (l?.state === 'held') return true;
    if (l?.state === 'pending' || (l?.state === 'busy' && Date.now() < l.retryAt) || this.closed) return false;
    this.acquire(key);
    return this.unsupported;
  }

  private acquire(key: string): void {
    const lock: Lock = { state: 'pending', retryAt: 0 };
    this.locks.set(key, lock);
    const server = net.createServer((sock) => sock.destroy());
    server.unref();
    server.on('error', (err: NodeJS.ErrnoException) => {
      if (lock.state === 'held') {
        this.log(`reader lock: ${err.message}`);
        return;
      }
      if (err.code === 'EADDRINUSE') {
        // Another agent of the service reads this source.
        lock.state = 'busy';
        lock.retryAt = Date.now() + this.retryMs;
        return;
      }
      // No abstract sockets here (not Linux): every agent reads (duplicates, as without election).
      this.unsupported = true;
      this.locks.delete(key);
      this.log(`cannot elect a reader for shared files (${err.message}); every instance reads them`);
      this.onAcquired();
    });
    server.listen({ path: this.name(key) }, () => {
      if (this.closed) {
        server.close();
        return;
      }
      lock.state = 'held';
      lock.server = server;
      this.onAcquired();
    });
  }

  /** Gives the lock of `key` up (its source is gone; its checkpoint was written). */
  release(key: string): void {
    const l = this.locks.get(key);
    if (!l) return;
    this.locks.delete(key);
    l.server?.close();
  }

  /** True while a lock is being taken (its answer is due within a few milliseconds). */
  get pending(): boolean {
    for (const l of this.locks.values()) if (l.state === 'pending') return true;
    return false;
  }

  /** Keys held now. */
  held(): string[] {
    return [...this.locks].filter(([, l]) => l.state === 'held').map(([k]) => k);
  }

  close(): void {
    this.closed = true;
    for (const l of this.locks.values()) l.server?.close();
    this.locks.clear();
  }
}
