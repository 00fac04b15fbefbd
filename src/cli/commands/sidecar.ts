// `berth sidecar restart logs [--service S]`: restarts only the named platform sidecar of every
// instance (or of one service's instances). The apps keep running with the same PIDs, revisions do
// not change, and the log agent resumes from its checkpoints, so no line is lost.
import { requireControl, resolveContext } from '../context.js';
import { errors } from '../errors.js';

interface SidecarOptions {
  file?: string;
  service?: string;
  json?: boolean;
}

export async function restart(name: string, o: SidecarOptions): Promise<void> {
  if (!/^[a-z][-a-z0-9]*$/.test(name)) throw errors.usage(`sidecar name "${name}" is not valid`, 'e.g. `berth sidecar restart logs`');
  const client = requireControl(resolveContext(o.file, false));
  let restarted: { instance: string; pid: number }[];
  try {
    ({ restarted } = await client.post<{ restarted: { instance: string; pid: number }[] }>('/api/v1/sidecars/restart', { name, ...(o.service ? { service: o.service } : {}) }));
  } catch (err) {
    const status = (err as { status?: number }).status;
    if (status === 404 || status === 400) throw errors.usage((err as Error).message.replace(/^POST \S+: \d+ /, ''));
    throw err;
  }
  if (o.json) {
    process.stdout.write(JSON.stringify({ sidecar: name, restarted }) + '\n');
    return;
  }
  if (restarted.length === 0) {
    process.stdout.write(`no running sidecar "${name}"${o.service ? ` in service ${o.service}` : ''}\n`);
    return;
  }
  for (const r of restarted) process.stdout.write(`restarting ${name} of ${r.instance} (was pid ${r.pid})\n`);
}
