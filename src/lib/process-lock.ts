// A lock held by a live process and released by the kernel when it dies (however it dies): a
// listening socket in Linux's abstract namespace (`\0berth-…`), named after what it protects. There is
// no file to go stale, so there is no "probe, delete the stale socket, listen" step in which two
// racing starters can both win: binding the name is atomic, exactly one binder succeeds. Node has no
// flock(2) without a native addon; a bound abstract socket gives the same guarantee, and — unlike a
// PID file — a zombie or a reused PID cannot hold it.
// Caveat (docs/security.md): abstract names are not protected by file permissions, so another local
// user could bind the name first and keep this state dir's control plane from starting (a denial of
// service, nothing more: the name grants no access to anything).
import { createHash } from 'node:crypto';
import { realpathSync } from 'node:fs';
import { connect, createServer, type Server } from 'node:net';
import { resolve } from 'node:path';

/** The abstract socket name of lock `purpose` for the file or folder at `path` (by its real path). */
export function lockName(purpose: string, path: string): string {
  let real = resolve(path);
  try {
    real = realpathSync(real);
  } catch {
    // Not created yet: the resolved path names it as well as anything (it is created before use).
  }
  const hash = createHash('sha256').update(real).digest('hex').slice(0, 32);
  return `\0berth-${purpose}-${hash}`;
}

/** The lock that makes a control plane the only one of its state dir. */
export const controlLockName = (stateDir: string): string => lockName('control', stateDir);

function listen(name: string): Promise<Server> {
  return new Promise((resolvePromise, reject) => {
    const server = createServer((c) => c.destroy());
    server.once('error', reject);
    server.listen({ path: name }, () => {
      server.off('error', reject);
      server.unref();
      resolvePromise(server);
    });
  });
}

/** Takes the lock `name`; resolves undefined when another live process holds it. Close the server to release it. */
export async function acquireProcessLock(name: string): Promise<Server | undefined> {
  try {
    return await listen(name);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EADDRINUSE') return undefined;
    throw err;
  }
}

/** Waits (polling, up to `timeoutMs`) for the lock `name`; throws when it stays held. */
export async function waitProcessLock(name: string, timeoutMs: number, what: string): Promise<Server> {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    const server = await acquireProcessLock(name);
    if (server) return server;
    if (performance.now() > deadline) throw new Error(`${what} is held by another process for more than ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 5 + Math.random() * 20));
  }
}

/** True when some live process holds the lock `name`. */
export function isLockHeld(name: string): Promise<boolean> {
  return new Promise((resolvePromise) => {
    const s = connect({ path: name });
    s.once('connect', () => {
      s.destroy();
      resolvePromise(true);
    });
    s.once('error', () => resolvePromise(false));
  });
}
