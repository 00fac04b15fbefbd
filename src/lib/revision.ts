// A revision is the hash of an instance template (plus the restart generation `berth restart`
// bumps). The same function stamps it everywhere — when the CLI compiles a spec and when the
// control plane restarts a service — so the two can never disagree, and the control plane needs
// no spec tooling (zod, yaml) to do it.
import { shortHash } from './canonical-json.js';

interface Stampable {
  main: { env: Record<string, string> };
  sidecars: { env: Record<string, string> }[];
}

/** Hashes the template (without any earlier stamp) with the generation, writes BERTH_REVISION into every process's env, returns it. */
export function stampRevision(template: Stampable, restartGeneration: number): string {
  const procs = [template.main, ...template.sidecars];
  for (const p of procs) delete p.env.BERTH_REVISION;
  const revision = shortHash({ template, restart: restartGeneration });
  for (const p of procs) p.env.BERTH_REVISION = revision;
  return revision;
}
