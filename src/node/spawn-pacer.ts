// Paces process spawns: one per turn of the event loop. spawn() is synchronous (fork + exec) and
// costs 5–70 ms on a busy two-core machine; a desired set of 15 instances is 45 spawns, and run in
// one go they blocked the agent for over 5 s — its heartbeats stopped, the control plane's ping went
// unanswered, and the node was fenced as lost. Queued here, timers and sockets (heartbeats, the API,
// probes) run between two spawns.

const queue: (() => void)[] = [];
let draining = false;

function drainOne(): void {
  const next = queue.shift();
  if (next) {
    try {
      next();
    } finally {
      if (queue.length > 0) setImmediate(drainOne);
      else draining = false;
    }
  } else {
    draining = false;
  }
}

/** Runs `spawn` on a later turn of the event loop, in order, one per turn. */
export function paceSpawn(spawn: () => void): void {
  queue.push(spawn);
  if (draining) return;
  draining = true;
  setImmediate(drainOne);
}
