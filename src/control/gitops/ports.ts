// The check `berth up` / `apply` make on the client before applying, made here for a commit: a port
// of the spec that a process outside this app listens on (another Berth app, anything else) refuses
// the commit, naming the holder, instead of a service that cannot start.
import { describeHolder, findPortHolder, heldBy } from '../../lib/port-holder.js';
import type { DesiredState } from '../../plan/index.js';

/** One line per port held by another process, as `file: what: port N is already in use by …`. */
export function portConflicts(desired: DesiredState, stateDir: string, specFile: string): string[] {
  const ports = new Map<number, string>();
  for (const s of desired.services) if (s.port !== undefined && !ports.has(s.port)) ports.set(s.port, `services.${s.name.split('.')[0]}.port`);
  const ingress = desired.mesh?.ingress?.port;
  if (ingress !== undefined) ports.set(ingress, 'ingress.port');
  const out: string[] = [];
  for (const [port, what] of ports) {
    const holder = findPortHolder(port);
    if (holder && !heldBy(holder, stateDir)) out.push(`${specFile}: ${what}: port ${port} is already in use by ${describeHolder(holder)}; stop that process or change the port`);
  }
  return out;
}
