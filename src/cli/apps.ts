// The Berth applications on this machine, for `berth ls` and `--app NAME`: the address-block
// registry (lib/slots.ts) names each app's state dir; the app's name, spec and environment come
// from the state last applied (.berth/last-applied.json), so finding an app reads files only.
import { isProcessAlive } from '../lib/proc.js';
import { readJsonFile } from '../lib/files.js';
import { slotOwners } from '../lib/slots.js';
import { stateLayout, type ControlInfo, type LastApplied } from '../lib/state-dir.js';

export interface KnownApp {
  /** The spec's `app:` name; undefined until a spec was applied. */
  name: string | undefined;
  spec: string | undefined;
  environment: string | undefined;
  stateDir: string;
  /** The control plane's announcement when it runs (pid alive, same start time), else undefined. */
  control: ControlInfo | undefined;
}

/** The control plane's control.json when that process is alive (PID alone is not trusted: zombies, reuse). */
export function liveControlInfo(stateDir: string): ControlInfo | undefined {
  const info = readJsonFile<ControlInfo>(stateLayout(stateDir).controlInfo);
  return info && isProcessAlive(info.pid, info.startTime) ? info : undefined;
}

/** Every app holding an address block on this machine, running or not. */
export function knownApps(): KnownApp[] {
  return slotOwners().map((stateDir) => {
    const applied = readJsonFile<LastApplied<{ app?: string; specFile?: string; env?: string }>>(stateLayout(stateDir).lastApplied)?.desired;
    const control = liveControlInfo(stateDir);
    return { name: applied?.app ?? (control?.app || undefined), spec: applied?.specFile, environment: applied?.env, stateDir, control };
  });
}

/** How an app is named to the user: `name (spec)`. */
export const describeApp = (a: KnownApp): string => `${a.name ?? '(unnamed)'} (${a.spec ?? a.stateDir})`;
