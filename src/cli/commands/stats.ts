// `berth stats`: live CPU % and memory of every running instance's app and of each of its sidecars,
// as `docker stats` shows containers. The figures are the node agents' own measurements (one sample a
// second, sent with their heartbeats). On a terminal the table refreshes every interval until Ctrl-C;
// `--no-stream`, `--json` or a pipe print one reading and exit.
import type { StatsRow } from '../../control/index.js';
import { requireControl, resolveContext, sleep } from '../context.js';
import { errors } from '../errors.js';
import { bold, dim, table } from '../output.js';

export interface StatsOptions {
  file?: string;
  json?: boolean;
  /** commander's negation of --no-stream: false when the user asked for one reading. */
  stream?: boolean;
  interval?: string;
}

const cell = (v: number | null, unit: string): string => (v === null ? '-' : `${v}${unit}`);

/** The table `berth stats` prints (exported for tests). */
export function statsTable(rows: StatsRow[]): string {
  if (rows.length === 0) return 'no running instances\n';
  return (
    table(
      ['INSTANCE', 'PROCESS', 'SERVICE', 'NODE', 'PID', 'CPU %', 'MEM'],
      rows.map((r) => [r.instance, r.process, r.service, r.node, r.pid === null ? '-' : String(r.pid), cell(r.cpuPercent, '%'), cell(r.memoryMiB, ' MiB')]),
    ) + '\n'
  );
}

export async function stats(o: StatsOptions): Promise<void> {
  const intervalS = Number(o.interval ?? 1);
  if (!Number.isFinite(intervalS) || intervalS <= 0) throw errors.usage(`--interval must be a positive number of seconds, got ${o.interval}`);
  const c = requireControl(resolveContext(o.file, false));
  const read = () => c.get<StatsRow[]>('/api/v1/stats');
  if (o.json) {
    process.stdout.write(JSON.stringify(await read()) + '\n');
    return;
  }
  if (o.stream === false || !process.stdout.isTTY) {
    process.stdout.write(statsTable(await read()));
    return;
  }
  for (;;) {
    const text = statsTable(await read());
    process.stdout.write(`\x1b[H\x1b[2J${bold('berth stats')} ${dim(`every ${intervalS}s, Ctrl-C to stop`)}\n${text}`);
    await sleep(intervalS * 1000);
  }
}
