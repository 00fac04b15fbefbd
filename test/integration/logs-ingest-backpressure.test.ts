// Issue 13 point 5: the control plane's log ingest queue is bounded. Real `berth-logs` processes
// ship to the embedded store (POST /api/v1/logs, the control plane's own route and writer thread)
// through a queue that admits one batch at a time: the others are answered 503 with Retry-After,
// the agents keep those batches and send them again with back-off, and once the queue drains every
// line of every agent is in the store exactly once.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { LogIngest } from '../../src/control/log-ingest.js';
import { handleLogRoutes } from '../../src/control/log-routes.js';
import { agentConfig, tempDir, waitFor, writeSeq } from '../unit/logs/helpers.js';
import { spawnAgent, type AgentProc } from './logs-agent-proc.js';

const AGENTS = 3;
const LINES = 4000;

test('a full ingest queue answers 503 + Retry-After; the agents retry and every line arrives exactly once', async () => {
  const dir = tempDir();
  mkdirSync(join(dir, 'logs'));
  const state = join(dir, '.berth');
  mkdirSync(state);
  const ingest = new LogIngest(join(state, 'logs.db'), { maxBatches: 1 });
  const refusals: (string | undefined)[] = [];
  const server = http.createServer((req, res) => {
    if (req.headers.authorization !== 'Bearer t0ken') return void res.writeHead(401).end();
    const writeHead = res.writeHead.bind(res) as (status: number, headers?: http.OutgoingHttpHeaders) => http.ServerResponse;
    res.writeHead = ((status: number, headers?: http.OutgoingHttpHeaders) => {
      if (status === 503) refusals.push(headers?.['retry-after'] as string | undefined);
      return writeHead(status, headers);
    }) as typeof res.writeHead;
    void handleLogRoutes(req, res, new URL(req.url ?? '/', 'http://x'), () => ingest);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  writeFileSync(join(state, 'token'), 't0ken\n');
  writeFileSync(join(state, 'control.json'), JSON.stringify({ port: (server.address() as AddressInfo).port }));

  const agents: AgentProc[] = [];
  try {
    for (let a = 1; a <= AGENTS; a++) {
      writeSeq(join(dir, 'logs', `web-${a}.log`), 0, LINES, 'y'.repeat(200));
      const config = agentConfig(dir, { files: ['logs/${BERTH_INSTANCE}.log'], sinks: [{ type: 'embedded', name: 'control-plane', batchMaxRecords: 500 }] });
      agents.push(spawnAgent(state, config, `web-${a}`));
    }
    const reader = await ingest.reader();
    const count = (): number => [...reader.query({ services: ['web'] })].length;
    await waitFor(`${AGENTS * LINES} records stored`, () => count() >= AGENTS * LINES, 90_000);
    await new Promise((r) => setTimeout(r, 500)); // anything sent twice would land by now

    assert.ok(refusals.length > 0, 'the queue was never full: nothing was refused');
    assert.ok(refusals.every((v) => v !== undefined && Number(v) >= 1 && Number(v) <= 30), `Retry-After (1–30 s) on every 503: ${JSON.stringify(refusals.slice(0, 5))}`);
    assert.equal(ingest.stats.refused, refusals.length);
    const seen = new Map<string, number>();
    for (const r of reader.query({ services: ['web'] })) {
      const key = `${r.instance} ${/seq=(\d+)/.exec(r.message)?.[1]}`;
      seen.set(key, (seen.get(key) ?? 0) + 1);
    }
    for (let a = 1; a <= AGENTS; a++)
      for (let n = 0; n < LINES; n++) assert.equal(seen.get(`web-${a} ${n}`), 1, `web-${a} seq=${n}`);
    assert.equal(seen.size, AGENTS * LINES);
    console.log(`back-pressure: ${refusals.length} batches refused (503), ${ingest.stats.written} written, ${AGENTS * LINES} records stored once each`);
    for (const a of agents) assert.equal(a.exited(), undefined, `an agent exited: ${a.stderr()}`);
  } finally {
    for (const a of agents) await a.stop();
    await new Promise<void>((r) => server.close(() => r()));
    await ingest.close();
  }
});
