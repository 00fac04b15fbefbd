// `berth replay --mock-dependencies`: the recorded downstream calls (`_downstream` of Berth's HAR
// entries) go into a mock file in the state directory; the control plane has the target service's
// sidecars answer the replayed requests' outbound calls from it (src/sidecar/proxy/responder.ts)
// until the replay ends, then reports hits and misses.
import { createHash } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { MockCall } from '../../lib/mesh-protocol.js';
import type { MockSummary } from '../../control/index.js';
import type { HarPostData, RecordedExchange } from '../../replay/index.js';
import type { ControlClient } from '../context.js';

function bodyOf(p: HarPostData | undefined): Buffer {
  if (!p?.text) return Buffer.alloc(0);
  return p.encoding === 'base64' ? Buffer.from(p.text, 'base64') : Buffer.from(p.text, 'utf8');
}

/** Every recorded downstream call of the exchanges, keyed by its request's trace id. */
export function mockCalls(exchanges: readonly RecordedExchange[]): MockCall[] {
  const out: MockCall[] = [];
  for (const x of exchanges) {
    const traceId = x.entry._traceId;
    if (!traceId) continue;
    for (const d of x.entry._downstream ?? []) {
      const u = new URL(d.request.url);
      const body = bodyOf(d.request.postData);
      const c = d.response.content;
      const resBody = c?.text === undefined ? Buffer.alloc(0) : c.encoding === 'base64' ? Buffer.from(c.text, 'base64') : Buffer.from(c.text, 'utf8');
      out.push({
        traceId,
        service: d.service,
        method: d.request.method.toUpperCase(),
        path: `${u.pathname}${u.search}`,
        bodySha: body.length === 0 ? '' : createHash('sha256').update(body).digest('hex'),
        status: d.response.status,
        headers: d.response.headers.map((h): [string, string] => [h.name, h.value]),
        body: resBody.toString('base64'),
      });
    }
  }
  return out;
}

export interface ActiveMock {
  stop(): Promise<MockSummary>;
}

/** Writes the mock file and has the service's sidecars (of `variant`, when given) answer from it. */
export async function startMock(c: ControlClient, stateDir: string, service: string, variant: string | undefined, calls: MockCall[]): Promise<ActiveMock> {
  const id = `replay-${process.pid}-${Date.now()}`;
  const dir = join(stateDir, 'mocks');
  await mkdir(dir, { recursive: true, mode: 0o700 });
  await writeFile(join(dir, `${id}.json`), JSON.stringify({ calls }), { mode: 0o600 });
  await c.post('/api/v1/mocks', { service, ...(variant !== undefined ? { variant } : {}), id });
  return { stop: () => c.post<MockSummary>('/api/v1/mocks/stop', { id }) };
}
