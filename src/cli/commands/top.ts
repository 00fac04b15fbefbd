// `berth top`: live requests per second, p50/p99 latency and error % per service and variant, as the
// services' inbound proxies saw them (the control plane reads every proxy's counters and takes the
// difference between two reads), with the replicas in force, the autoscaler's desired count and why.
// `--json` takes two reads one interval apart, prints them, exits.
import type { MeshTopRow } from '../../lib/mesh-protocol.js';
import { requireControl, resolveContext, sleep } from '../context.js';
import { errors } from '../errors.js';
import { bold, dim, table } from '../output.js';

interface TopReply {
  windowSeconds: number | null;
  rows: MeshTopRow[];
}

const fmt = (v: number | null, unit = ''): string => (v === null ? '-' : `${v}${unit}`);

/** `2`, or `2 → 3` while the autoscaler wants another count. */
const replicasCell = (x: MeshTopRow): string => (x.replicas === undefined ? '-' : x.desiredReplicas !== undefined && x.desiredReplicas !== x.replicas ? `${x.replicas} → ${x.desiredReplicas}` : String(x.replicas));

/** One line per autoscaled service: why it has the replicas it has. */
const reasons = (rows: MeshTopRow[]): string =>
  rows
    .filter((x) => x.scaleReason !== undefined)
    .map((x) => dim(`${x.variant && x.variant !== 'default' ? `${x.service}.${x.variant}` : x.service}: autoscaler: ${x.scaleReason}`) + '\n')
    .join('');

export async function top(o: { file?: string; json?: boolean; interval?: string }): Promise<void> {
  const intervalS = Number(o.interval ?? 1);
  if (!Number.isFinite(intervalS) || intervalS <= 0) throw errors.usage(`--interval must be a positive number of seconds, got ${o.interval}`);
  const ctx = resolveContext(o.file, false);
  const c = requireControl(ctx);
  await c.get<TopReply>('/api/v1/mesh/top');
  if (o.json) {
    await sleep(intervalS * 1000);
    process.stdout.write(JSON.stringify((await c.get<TopReply>('/api/v1/mesh/top')).rows) + '\n');
    return;
  }
  const tty = process.stdout.isTTY;
  for (;;) {
    await sleep(intervalS * 1000);
    const r = await c.get<TopReply>('/api/v1/mesh/top');
    const text =
      r.rows.length === 0
        ? 'no registered instances\n'
        : table(
            ['SERVICE', 'VARIANT', 'INSTANCES', 'REPLICAS', 'RPS', 'P50', 'P99', 'ERRORS'],
            r.rows.map((x) => [x.service, x.variant, String(x.instances), replicasCell(x), String(x.rps), fmt(x.p50Ms, ' ms'), fmt(x.p99Ms, ' ms'), `${x.errorPct}%`]),
          ) +
          '\n' +
          reasons(r.rows);
    const header = `${bold('berth top')} ${dim(`every ${intervalS}s, Ctrl-C to stop`)}\n`;
    process.stdout.write(tty ? `\x1b[H\x1b[2J${header}${text}` : `${text}\n`);
  }
}
