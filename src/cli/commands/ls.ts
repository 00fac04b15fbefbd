// `berth ls`: the Berth applications running on this machine (a live control plane each), with their
// spec, environment and readiness, read from each control plane's status in parallel.
import { readToken } from '../../lib/files.js';
import { requestJson } from '../../lib/http.js';
import { stateLayout } from '../../lib/state-dir.js';
import { knownApps, type KnownApp } from '../apps.js';
import { table } from '../output.js';

interface StatusReply {
  app?: string;
  specFile?: string;
  env?: string;
  services: { name: string; replicas: number; ready: number }[];
}

/** One row of `berth ls --json`. */
export interface AppRow {
  name: string | null;
  spec: string | null;
  environment: string | null;
  stateDir: string;
  pid: number;
  services: { name: string; ready: number; replicas: number }[];
  ready: number;
  total: number;
  /** Set when the control plane runs but did not answer its status. */
  error?: string;
}

async function row(app: KnownApp & { control: NonNullable<KnownApp['control']> }): Promise<AppRow> {
  const base = { name: app.name ?? null, spec: app.spec ?? null, environment: app.environment ?? null, stateDir: app.stateDir, pid: app.control.pid };
  try {
    const token = readToken(stateLayout(app.stateDir).token) ?? '';
    const s = await requestJson<StatusReply>({ port: app.control.port, token, timeoutMs: 5000 }, 'GET', '/api/v1/status');
    const services = s.services.map((x) => ({ name: x.name, ready: x.ready, replicas: x.replicas }));
    return {
      ...base,
      name: s.app ?? base.name,
      spec: s.specFile ?? base.spec,
      environment: s.env ?? base.environment,
      services,
      ready: services.reduce((n, x) => n + Math.min(x.ready, x.replicas), 0),
      total: services.reduce((n, x) => n + x.replicas, 0),
    };
  } catch (err) {
    return { ...base, services: [], ready: 0, total: 0, error: (err as Error).message };
  }
}

export async function ls(o: { json?: boolean }): Promise<void> {
  const running = knownApps().filter((a): a is KnownApp & { control: NonNullable<KnownApp['control']> } => a.control !== undefined);
  const rows = (await Promise.all(running.map(row))).sort((a, b) => (a.name ?? '').localeCompare(b.name ?? '') || a.stateDir.localeCompare(b.stateDir));
  if (o.json) {
    process.stdout.write(JSON.stringify(rows) + '\n');
    return;
  }
  if (rows.length === 0) {
    process.stdout.write('no Berth app is running on this machine\n');
    return;
  }
  process.stdout.write(
    table(
      ['NAME', 'SPEC', 'ENV', 'SERVICES', 'READY'],
      rows.map((r) => [r.name ?? '-', r.spec ?? r.stateDir, r.environment ?? 'default', r.error ? `(no answer: ${r.error})` : r.services.map((s) => s.name).join(','), `${r.ready}/${r.total}`]),
    ) + '\n',
  );
}
