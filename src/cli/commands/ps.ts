// `berth ps`: the instances, from the control plane's API. Kept light: it is called in loops.
import type { PsRow } from '../../control/index.js';
import { requireControl, resolveContext } from '../context.js';
import { age, dim, statusColor, table } from '../output.js';

export async function ps(o: { file?: string; json?: boolean; all?: boolean }): Promise<void> {
  const ctx = resolveContext(o.file, false);
  const c = requireControl(ctx);
  const rows = await c.get<PsRow[]>(`/api/v1/instances${o.all ? '?all=1' : ''}`);
  if (o.json) {
    process.stdout.write(JSON.stringify(rows) + '\n');
    return;
  }
  if (rows.length === 0) process.stdout.write('no instances\n');
  else
  process.stdout.write(
    table(
      ['SERVICE', 'INSTANCE', 'REVISION', 'NODE', 'HOST', 'PID', 'STATUS', 'RESTARTS', 'AGE', 'MESSAGE'],
      rows.map((r) => [r.service, r.instance, r.revision, r.node, r.port ? `${r.host}:${r.port}` : r.host, String(r.pid ?? '-'), statusColor(r.status), String(r.restarts), age(r.startedAt), r.message ?? '']),
    ) + '\n',
  );
  // Autoscaled services: current and desired replicas, and why (the HPA's status line).
  const status = await c.get<{ services: { name: string; replicas: number; ready: number; autoscale?: { current: number; desired: number; reason: string } }[] }>('/api/v1/status');
  for (const s of status.services) {
    if (!s.autoscale) continue;
    process.stdout.write(`${dim(`${s.name}: ${s.ready} ready, ${s.autoscale.current} → ${s.autoscale.desired} replicas (autoscaler: ${s.autoscale.reason})`)}\n`);
  }
}
