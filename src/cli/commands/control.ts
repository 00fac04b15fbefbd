// `berth scale`, `berth stop`/`berth start`, `berth restart` and `berth exec`: small requests to the control plane.
import { spawn } from 'node:child_process';
import type { InstanceSpec } from '../../lib/agent-protocol.js';
import type { PsRow } from '../../control/index.js';
import { requireControl, resolveContext } from '../context.js';
import { errors } from '../errors.js';
import { resolveUser } from '../../lib/users.js';

function apiError(err: unknown): never {
  const e = err as { status?: number; body?: { error?: string } };
  if (e.status === 404 || e.status === 400 || e.status === 409) throw errors.usage(e.body?.error ?? String(err));
  throw err;
}

export async function scale(assignments: string[], o: { file?: string; json?: boolean }): Promise<void> {
  const parsed = assignments.map((a) => {
    const m = /^([a-z][a-z0-9-]*(?:\.[a-z][a-z0-9-]*)?)=(\d+)$/.exec(a); // a variant's deployment: orders.v2=2
    if (!m) throw errors.usage(`expected SERVICE=N, got "${a}"`, 'e.g. berth scale web=3');
    return { service: m[1], replicas: Number(m[2]) };
  });
  const c = requireControl(resolveContext(o.file, false));
  for (const p of parsed) await c.post('/api/v1/scale', p).catch(apiError);
  if (o.json) process.stdout.write(JSON.stringify(parsed) + '\n');
  else for (const p of parsed) process.stdout.write(`${p.service} scaled to ${p.replicas}\n`);
}

/** `berth stop` / `berth start`: every name is checked by the control plane before any service changes. */
export async function stopStart(action: 'stop' | 'start', services: string[], o: { file?: string; json?: boolean }): Promise<void> {
  for (const s of services) if (!/^[a-z][a-z0-9-]*(?:\.[a-z][a-z0-9-]*)?$/.test(s)) throw errors.usage(`"${s}" is not a service name`, `e.g. berth ${action} web`);
  const c = requireControl(resolveContext(o.file, false));
  const r = await c.post<{ services: { service: string; replicas: number; changed: boolean }[] }>(`/api/v1/${action}`, { services }).catch(apiError);
  if (o.json) {
    process.stdout.write(JSON.stringify(r.services) + '\n');
    return;
  }
  for (const s of r.services) {
    if (!s.changed) process.stdout.write(`${s.service}: already ${action === 'stop' ? 'stopped' : 'started'}\n`);
    else process.stdout.write(action === 'stop' ? `${s.service} stopped (0 instances until \`berth start ${s.service}\`)\n` : `${s.service} started (${s.replicas} instance${s.replicas === 1 ? '' : 's'})\n`);
  }
}

export async function restart(service: string, o: { file?: string; json?: boolean }): Promise<void> {
  const c = requireControl(resolveContext(o.file, false));
  const r = await c.post<{ service: string; revision: string }>('/api/v1/restart', { service }).catch(apiError);
  if (o.json) process.stdout.write(JSON.stringify(r) + '\n');
  else process.stdout.write(`${service}: rolling restart to revision ${r.revision}\n`);
}

export async function exec(service: string, command: string[], o: { file?: string; instance?: string }): Promise<void> {
  const c = requireControl(resolveContext(o.file, false));
  const rows = await c.get<PsRow[]>('/api/v1/instances');
  const candidates = rows.filter((r) => r.service === service && (!o.instance || r.instance === o.instance));
  if (candidates.length === 0) {
    throw errors.usage(o.instance ? `no instance ${o.instance} of service ${service}` : `no running instance of service ${service}`, `see \`berth ps\``);
  }
  const chosen = candidates.find((r) => r.ready) ?? candidates[0];
  const spec = await c.get<InstanceSpec>(`/api/v1/instances/${encodeURIComponent(chosen.instance)}`);
  // The command runs as the instance's OS user, like its app (docs/security.md): run as root, it could read .berth/token.
  let ids: { uid?: number; gid?: number } = {};
  if (spec.main.user !== undefined) {
    try {
      ids = resolveUser(spec.main.user);
    } catch (err) {
      throw errors.usage(`cannot run as instance ${chosen.instance}'s user: ${(err as Error).message}`);
    }
  }
  let child;
  try {
    child = spawn(command[0], command.slice(1), { cwd: spec.main.cwd, env: { ...process.env, ...spec.main.env }, stdio: 'inherit', ...ids });
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    const hint = e.code === 'EPERM' ? ` (instance ${chosen.instance} runs as user ${spec.main.user ?? '?'}; only root can switch to it)` : '';
    process.stderr.write(`error: cannot run ${command[0]}: ${e.message}${hint}\n`);
    process.exitCode = 126;
    return;
  }
  const code = await new Promise<number>((resolve) => {
    child.on('error', (err) => {
      process.stderr.write(`error: cannot run ${command[0]}: ${err.message}\n`);
      resolve(127);
    });
    child.on('exit', (c2, sig) => resolve(c2 ?? (sig ? 128 + 15 : 1)));
  });
  process.exitCode = code;
}
