// `berth node …`: the simulated nodes — list them, cordon/uncordon, drain (replacements ready
// elsewhere before the old instances stop), kill (chaos: SIGKILL the agent and its instances), add.
import type { PsRow } from '../../control/index.js';
import { requireControl, resolveContext, sleep } from '../context.js';
import { errors } from '../errors.js';
import { dim, green, red, table, yellow } from '../output.js';

interface NodeRow {
  name: string;
  status: 'Ready' | 'NotReady';
  cordoned: boolean;
  draining: boolean;
  agentPid: number | null;
  address: string;
  capacity: { cpuMillis?: number; memoryMiB?: number };
  labels: Record<string, string>;
  usage: { cpuMillis: number; memoryMiB: number } | null;
  instances: number;
}

function apiError(err: unknown): never {
  const e = err as { status?: number; body?: { error?: string } };
  if (e.status === 404 || e.status === 400 || e.status === 409) throw errors.usage(e.body?.error ?? String(err), 'see `berth node ls`');
  throw err;
}

export async function ls(o: { file?: string; json?: boolean }): Promise<void> {
  const c = requireControl(resolveContext(o.file, false));
  const rows = await c.get<NodeRow[]>('/api/v1/nodes');
  if (o.json) {
    process.stdout.write(JSON.stringify(rows) + '\n');
    return;
  }
  const cap = (r: NodeRow) => [r.capacity.cpuMillis !== undefined ? `${r.capacity.cpuMillis}m` : '∞', r.capacity.memoryMiB !== undefined ? `${r.capacity.memoryMiB}Mi` : '∞'].join('/');
  process.stdout.write(
    table(
      ['NAME', 'STATUS', 'INSTANCES', 'CPU', 'MEMORY', 'CAPACITY', 'ADDRESSES', 'AGENT', 'LABELS'],
      rows.map((r) => [
        r.name,
        (r.status === 'Ready' ? green(r.status) : red(r.status)) + (r.draining ? yellow(',Draining') : r.cordoned ? yellow(',SchedulingDisabled') : ''),
        String(r.instances),
        r.usage ? `${r.usage.cpuMillis}m` : '-',
        r.usage ? `${r.usage.memoryMiB}Mi` : '-',
        cap(r),
        r.address,
        String(r.agentPid ?? '-'),
        Object.entries(r.labels).map(([k, v]) => `${k}=${v}`).join(',') || dim('-'),
      ]),
    ) + '\n',
  );
}

export async function action(verb: 'cordon' | 'uncordon' | 'drain' | 'kill', name: string, o: { file?: string; json?: boolean; timeout?: string }): Promise<void> {
  const c = requireControl(resolveContext(o.file, false));
  await c.post(`/api/v1/nodes/${encodeURIComponent(name)}/${verb}`).catch(apiError);
  if (verb === 'drain') {
    const timeoutS = Number(o.timeout ?? 120);
    const deadline = performance.now() + timeoutS * 1000;
    const tty = process.stderr.isTTY;
    for (;;) {
      const left = (await c.get<PsRow[]>('/api/v1/instances')).filter((r) => r.node === name);
      if (left.length === 0) break;
      if (performance.now() > deadline) throw errors.timeout(`after ${timeoutS}s draining ${name}: ${left.length} instance(s) left (see \`berth events\`)`);
      if (tty) process.stderr.write(`\r\x1b[Kdraining ${name}: ${left.length} instance(s) left`);
      await sleep(200);
    }
    if (tty) process.stderr.write('\r\x1b[K');
  }
  if (o.json) process.stdout.write(JSON.stringify({ node: name, action: verb }) + '\n');
  else process.stdout.write(`node ${name} ${{ cordon: 'cordoned', uncordon: 'uncordoned', drain: 'drained', kill: 'killed' }[verb]}\n`);
}

export async function add(o: { file?: string; json?: boolean; name?: string; cpuMillis?: string; memoryMib?: string; label?: string[] }): Promise<void> {
  const labels: Record<string, string> = {};
  for (const l of o.label ?? []) {
    const m = /^([^=]+)=(.*)$/.exec(l);
    if (!m) throw errors.usage(`--label expects KEY=VALUE, got "${l}"`);
    labels[m[1]] = m[2];
  }
  const num = (v: string | undefined, flag: string) => {
    if (v === undefined) return undefined;
    const n = Number(v);
    if (!Number.isInteger(n) || n <= 0) throw errors.usage(`${flag} expects a positive whole number, got "${v}"`);
    return n;
  };
  const capacity = { cpuMillis: num(o.cpuMillis, '--cpu-millis'), memoryMiB: num(o.memoryMib, '--memory-mib') };
  const c = requireControl(resolveContext(o.file, false));
  const r = await c.post<{ name: string }>('/api/v1/nodes', { name: o.name, capacity, labels }).catch(apiError);
  if (o.json) process.stdout.write(JSON.stringify(r) + '\n');
  else process.stdout.write(`node ${r.name} added\n`);
}
