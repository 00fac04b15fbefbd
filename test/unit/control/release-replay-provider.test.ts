// The `replay` metric provider (the release gate of issue 15) against real HTTP servers: traffic
// recorded from v1 (through HarWriter, as the sidecar writes it) is replayed to a canary; a canary
// answering like v1 passes, one that changes a field fails the gate's condition (result.passed),
// timestamps ignored; bad specs and a missing canary are Errors, not verdicts.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import { HarWriter, type HarEntry } from '../../../src/replay/index.js';
import { replayProvider, type ReplayGateResult, type ReplaySources } from '../../../src/control/release/providers/replay.js';
import { measurementPhase } from '../../../src/control/release/verdict.js';
import { ReplayProvider, type AnalysisMetricSpec } from '../../../src/contract/index.js';

function server(factor: number): Promise<http.Server> {
  const s = http.createServer((req, res) => {
    const n = Number(req.url!.split('/').pop());
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ n, price: n * factor, at: Date.now() }));
  });
  return new Promise((r) => s.listen(0, '127.0.0.1', () => r(s)));
}
const url = (s: http.Server): string => `http://127.0.0.1:${(s.address() as AddressInfo).port}`;

const servers: Record<string, http.Server> = {};
const dir = mkdtempSync(join(tmpdir(), 'berth-replay-gate-'));
let har = '';

before(async () => {
  servers.stable = await server(10);
  servers.same = await server(10);
  servers.changed = await server(12);
  const w = new HarWriter({ dir, stem: 'rec', maxFileMiB: 10 });
  for (let n = 1; n <= 20; n++) {
    const body = await (await fetch(`${url(servers.stable)}/item/${n}`)).text();
    const entry: HarEntry = {
      startedDateTime: new Date().toISOString(),
      time: 1,
      request: { method: 'GET', url: `http://shop/item/${n}`, httpVersion: 'HTTP/1.1', cookies: [], headers: [], queryString: [], headersSize: -1, bodySize: 0 },
      response: { status: 200, statusText: 'OK', httpVersion: 'HTTP/1.1', cookies: [], headers: [{ name: 'content-type', value: 'application/json' }], content: { size: body.length, mimeType: 'application/json', text: body }, redirectURL: '', headersSize: -1, bodySize: body.length },
      cache: {},
      timings: { send: 0, wait: 1, receive: 0 },
    };
    w.write(entry);
  }
  har = (await w.close()).files[0];
});
after(() => Object.values(servers).forEach((s) => s.close()));

const sources: ReplaySources = {
  files: () => ({ files: [har] }),
  endpoints: (_service, variant) => (servers[variant] ? [url(servers[variant])] : []),
};
// The settings as the contract parses them (defaults filled in), as the release controller passes them.
const metric = (replay: unknown): AnalysisMetricSpec => ({ name: 'replay', failureLimit: 0, inconclusiveLimit: 0, consecutiveErrorLimit: 4, successCondition: 'result.passed', provider: { replay: ReplayProvider.parse(replay) } });
const measure = (canary: string, replay: unknown): Promise<unknown> => replayProvider(sources)(metric(replay), { service: 'shop', canary, stable: 'stable', signal: new AbortController().signal });

test('a canary that answers like the recording passes the gate', async () => {
  const r = (await measure('same', { from: 'rec.har', ignore: ['$.at'] })) as ReplayGateResult;
  assert.equal(r.requests, 20);
  assert.equal(r.diffs, 0);
  assert.equal(r.passed, true);
  assert.equal(measurementPhase(metric({ from: 'rec.har' }), r).phase, 'Successful');
});

test('a canary that changes a response fails the gate: the release aborts on it', async () => {
  const r = (await measure('changed', { from: 'rec.har', ignore: ['$.at'], maxDiffPercent: 5 })) as ReplayGateResult;
  assert.equal(r.diffs, 20);
  assert.equal(r.diffPercent, 100);
  assert.equal(r.passed, false);
  assert.deepEqual(r.endpoints.flatMap((e) => e.fields.map((f) => f.path)), ['$.price']);
  assert.equal(measurementPhase(metric({ from: 'rec.har' }), r).phase, 'Failed');
});

test('without ignoring the timestamp every request differs; maxDiffPercent is the threshold', async () => {
  const r = (await measure('same', { from: 'rec.har', maxDiffPercent: 100 })) as ReplayGateResult;
  assert.equal(r.passed, true);
  assert.ok(r.endpoints.some((e) => e.fields.some((f) => f.path === '$.at')));
});

test('a bad spec or no canary instance is an error (an Error measurement), never a verdict', async () => {
  // Bad settings are the contract's to refuse (at file:line:col when a spec is loaded).
  assert.deepEqual(ReplayProvider.safeParse({ from: 'rec.har', maxDiffPercent: 200 }).error?.issues.map((i) => i.path.join('.')), ['maxDiffPercent']);
  assert.deepEqual(ReplayProvider.safeParse({ rate: 'max' }).error?.issues.map((i) => i.path.join('.')), ['from']);
  await assert.rejects(measure('gone', { from: 'rec.har' }), /no ready instance of shop@gone/);
});
