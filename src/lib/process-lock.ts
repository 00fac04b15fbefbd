// A lock held by a live process, released by the kernel when it dies (however it dies): a listening
// Unix socket at a path in `.berth/`. Node has no flock(2); a bound socket gives the same guarantee,
// and — unlike a PID file — a zombie or a reused PID cannot hold it.
import { connect, createServer, type Server } from 'node:net';
import { rmSync } from 'node:fs';

function probe(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect(path);
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

function listen(path: string): Promise<Server> {
  return new Promise((resolve, reject) => {
    const server = createServer((c) => c.destroy());
    server.once('error', reject);
    server.listen(path, () => {
      server.off('error', reject);
      server.unref();
      resolve(server);
    });
  });
}

/** Takes the lock at `path`; resolves undefined when another live process holds it. */
export async function acquireProcessLock(path: string): Promise<Server | undefined> {
  try {
    return await listen(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EADDRINUSE') throw err;
  }
  if (await probe(path)) return undefined; // held by a live process
  rmSync(path, { force: true }); // stale socket file from a dead holder
  try {
    return await listen(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EADDRINUSE') return undefined; // lost a race to another starter
    throw err;
  }
}

/** True when some live process holds the lock at `path`. */
export function isLockHeld(path: string): Promise<boolean> {
  return probe(path);
}
