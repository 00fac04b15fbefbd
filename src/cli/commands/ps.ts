// `berth ps`: the instances, from the control plane's API. Kept light: it is called in loops.
import type { PsRow } from '../../control/index.js';
import { requireControl, resolveContext } from '../context.js';
import { errors } from '../errors.js';
import { age, dim, statusColor, table } from '../output.js';

interface ServiceStatus {
  name: string;
  replicas: number;
  ready: number;
  autoscale?: { current: number; desired: number; reason: string };
  stopped?: { by: string; replicasAtStart: number };
}

/** A deployment belongs to a named service when it is the service or one of its variants (orders.v2). */
const belongs = (deployment: string, names: string[]) => names.length === 0 || names.some((n) => deployment === n || deployment.startsWith(`${n}.`));

export async function ps(services: string[], o: { file?: string; json?: boolean; all?: boolean }): Promise<void> {
  const ctx = resolveContext(o.file, false);
  const c = requireControl(ctx);
  // Status only when needed: names to check, or the lines under the table (`--json` stays one request).
  const status = services.length > 0 || !o.json ? await c.get<{ app?: string; env?: string; services: ServiceStatus[] }>('/api/v1/status') : { services: [] };
  const unknown = services.filter((n) => !status.services.some((s) => belongs(s.name, [n])));
  if (unknown.length) throw errors.usage(`unknown service${unknown.length > 1 ? 's' : ''} ${unknown.map((n) => `"${n}"`).join(', ')}`, `services: ${status.services.map((s) => s.name).join(', ') || 'none'}`);
  const rows = (await c.get<PsRow[]>(`/api/v1/instances${o.all ? '?all=1' : ''}`)).filter((r) => belongs(r.service, services));
  if (o.json) {
    process.stdout.write(JSON.stringify(rows) + '\n');
    return;
  }
  // Which app and environment these are (the active environment is part of the app's state).
  if ('app' in status) process.stdout.write(`${dim(`app ${status.app ?? '-'} · environment ${status.env ?? 'default'}`)}\n`);
  if (rows.length === 0) process.stdout.write('no instances\n');
  else
  process.stdout.write(
    table(
      ['SERVICE', 'INSTANCE', 'REVISION', 'NODE', 'HOST', 'PID', 'STATUS', 'RESTARTS', 'AGE', 'MESSAGE'],
      rows.map((r) => [r.release ? `${r.service} (${r.release})` : r.service, r.instance, r.revision, r.node, r.port ? `${r.host}:${r.port}` : r.host, String(r.pid ?? '-'), statusColor(r.status), String(r.restarts), age(r.startedAt), r.message ?? '']),
    ) + '\n',
  );
  // Stopped services (why they have no instance), then autoscaled ones: current and desired replicas, and why (the HPA's status line).
  for (const s of status.services) {
    if (!belongs(s.name, services)) continue;
    if (s.stopped) process.stdout.write(`${dim(`${s.name}: stopped by \`${s.stopped.by}\` (${s.stopped.replicasAtStart} at \`berth start ${s.name}\`)`)}\n`);
    else if (s.autoscale) process.stdout.write(`${dim(`${s.name}: ${s.ready} ready, ${s.autoscale.current} → ${s.autoscale.desired} replicas (autoscaler: ${s.autoscale.reason})`)}\n`);
  }
}
