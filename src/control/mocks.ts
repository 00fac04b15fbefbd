// `berth replay --mock-dependencies`: the replay names a mock file it wrote under
// `<stateDir>/mocks/`, the control plane puts it into the snapshots (config.mocks) for the target
// service's sidecars, and on stop collects what each sidecar's responder did (hits, misses).
//
//   POST /api/v1/mocks       {service, variant?, id} → {id}   (returns once the proxies hold it)
//   POST /api/v1/mocks/stop  {id}                    → {hits, misses, missed, proxies}
import type http from 'node:http';
import { existsSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import type { MeshConfig, MeshMock, MockResult } from '../lib/mesh-protocol.js';
import { RecordingError, type RecordingsHost } from './recordings.js';

export interface MockSummary {
  hits: number;
  misses: number;
  missed: MockResult['missed'];
  /** Sidecars that answered. */
  proxies: string[];
}

export class Mocks {
  private readonly active = new Map<string, MeshMock & { service: string }>();
  private readonly dir: string;

  constructor(
    stateDir: string,
    private readonly host: RecordingsHost,
  ) {
    this.dir = join(stateDir, 'mocks');
  }

  overlay(config: MeshConfig): MeshConfig {
    if (this.active.size === 0) return config;
    const mocks: Record<string, MeshMock> = {};
    for (const m of this.active.values()) mocks[m.service] = { id: m.id, ...(m.variant !== undefined ? { variant: m.variant } : {}) };
    return { ...config, mocks };
  }

  async start(body: Record<string, unknown>): Promise<{ id: string }> {
    const { service, variant, id } = body;
    if (typeof service !== 'string' || typeof id !== 'string' || (variant !== undefined && typeof variant !== 'string')) throw new RecordingError(400, 'expected {"service": string, "variant"?: string, "id": string}');
    if (!/^[\w.-]+$/.test(id) || !existsSync(join(this.dir, `${id}.json`))) throw new RecordingError(400, `no mock file ${id}.json in the state directory`);
    if (!this.host.services().includes(service)) throw new RecordingError(404, `no service "${service}" in the running app`);
    const busy = [...this.active.values()].find((m) => m.service === service);
    if (busy) throw new RecordingError(409, `${service} already answers from ${busy.id} (another replay with --mock-dependencies runs)`);
    this.active.set(id, { id, service, ...(variant !== undefined ? { variant } : {}) });
    this.host.changed();
    await this.host.synced(5000);
    await new Promise((r) => setTimeout(r, 300)); // the sidecars read the file once they hold the snapshot
    return { id };
  }

  async stop(id: string): Promise<MockSummary> {
    if (!this.active.delete(id)) throw new RecordingError(404, `no mock ${id} is active`);
    this.host.changed();
    await this.host.synced(5000);
    await new Promise((r) => setTimeout(r, 300));
    const out: MockSummary = { hits: 0, misses: 0, missed: [], proxies: [] };
    for (const f of readdirSync(this.dir).filter((x) => x.startsWith(`${id}.`) && x.endsWith('.result.json'))) {
      try {
        const r = JSON.parse(readFileSync(join(this.dir, f), 'utf8')) as MockResult;
        out.hits += r.hits;
        out.misses += r.misses;
        out.missed.push(...r.missed);
        out.proxies.push(r.proxy);
      } catch {
        // Safe to ignore: a result file still being written counts as a sidecar that reported nothing.
      }
      rmSync(join(this.dir, f), { force: true });
    }
    rmSync(join(this.dir, `${id}.json`), { force: true });
    out.missed = out.missed.slice(0, 100);
    return out;
  }
}

function send(res: http.ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

/** Serves /api/v1/mocks*; false for other paths. */
export async function handleMocksApi(mocks: Mocks, req: http.IncomingMessage, res: http.ServerResponse, path: string, readBody: () => Promise<Record<string, unknown>>): Promise<boolean> {
  if (req.method !== 'POST' || (path !== '/api/v1/mocks' && path !== '/api/v1/mocks/stop')) return false;
  try {
    const body = await readBody();
    if (path === '/api/v1/mocks') send(res, 201, await mocks.start(body));
    else if (typeof body.id !== 'string') throw new RecordingError(400, 'expected {"id": string}');
    else send(res, 200, await mocks.stop(body.id));
  } catch (err) {
    if (!(err instanceof RecordingError)) throw err;
    send(res, err.status, { error: err.message });
  }
  return true;
}
