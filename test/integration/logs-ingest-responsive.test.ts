// Issue 13 point 5: log batches are written off the control plane's event loop. A real control
// plane receives large batches through POST /api/v1/logs while GET /api/v1/status is asked over and
// over: the status answers stay quick while each batch takes seconds to parse and index. When the
// batches were parsed and written on the event loop, a status request waited for a whole batch.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import http from 'node:http';
import { join } from 'node:path';
import { berth, berthOk, portBlock, tempApp } from './harness/berth.js';

function call(port: number, token: string, method: string, path: string, body?: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string | number> = { authorization: `Bearer ${token}` };
    if (body !== undefined) Object.assign(headers, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
    const req = http.request({ host: '127.0.0.1', port, method, path, agent: false, headers }, (res) => {
      let data = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (data += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: data }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

/** A batch of `n` records of about 330 bytes each (message indexed for full text, as every record is). */
function batch(tag: string, n: number): string {
  const pad = 'abcdefghij'.repeat(20);
  const records = Array.from({ length: n }, (_, i) => ({
    id: `bulk/${tag}:${i}`,
    time: new Date(Date.now() + i).toISOString(),
    message: `GET /orders/${i} 200 ${tag} ${pad}`,
    stream: 'stdout',
    service: 'bulk',
    instance: 'bulk-1',
  }));
  return JSON.stringify({ records });
}

const RECORDS = Number(process.env.BERTH_TEST_INGEST_RECORDS ?? 12_000);

test('large log batches are written without stalling the control plane: /api/v1/status stays quick meanwhile', async () => {
  const port = portBlock(1);
  const dir = tempApp({
    'app.mjs': `import http from 'node:http';\nhttp.createServer((q, s) => s.end('ok')).listen(Number(process.env.PORT), process.env.HOST);`,
    'berth.yaml': `app: ingest\nservices:\n  api:\n    run: node app.mjs\n    port: ${port}\n    probes:\n      readiness: { tcp: {} }\n`,
  });
  after(() => berth(dir, ['down']));
  await berthOk(dir, ['up', '-d', '--wait', '--timeout', '60']);
  const token = readFileSync(join(dir, '.berth', 'token'), 'utf8').trim();
  const control = (JSON.parse(readFileSync(join(dir, '.berth', 'control.json'), 'utf8')) as { port: number }).port;
  const bodies = ['a', 'b'].map((tag) => batch(tag, RECORDS));

  const latencies: number[] = [];
  let posting = true;
  const prober = (async () => {
    while (posting) {
      const t = performance.now();
      const r = await call(control, token, 'GET', '/api/v1/status');
      latencies.push(performance.now() - t);
      assert.equal(r.status, 200);
      await new Promise((res) => setTimeout(res, 10));
    }
  })();
  const postMs: number[] = [];
  try {
    for (const body of bodies) {
      const t = performance.now();
      const r = await call(control, token, 'POST', '/api/v1/logs', body);
      postMs.push(performance.now() - t);
      assert.equal(r.status, 200, r.body);
      assert.deepEqual(JSON.parse(r.body), { stored: RECORDS, duplicates: 0 });
    }
  } finally {
    posting = false;
    await prober;
  }
  const stored = await call(control, token, 'GET', '/api/v1/logs?service=bulk&grep=GET%20/orders/11&limit=100000');
  assert.equal(stored.status, 200);
  assert.ok(stored.body.split('\n').filter(Boolean).length >= 2, 'the batches are queryable');

  const worst = Math.max(...latencies);
  const write = Math.min(...postMs);
  console.log(`ingest: ${RECORDS} records (${(bodies[0].length / 1048576).toFixed(1)} MiB) per batch took ${postMs.map((m) => m.toFixed(0)).join(', ')} ms; ${latencies.length} status requests meanwhile, slowest ${worst.toFixed(0)} ms`);
  assert.ok(latencies.length >= 10, `only ${latencies.length} status answers while ${postMs.length} batches were written`);
  // Relative, so that a loaded machine (slower everything) does not decide: a status request that had
  // to wait for a batch's write would take about as long as the write.
  assert.ok(worst < write / 4, `a status request took ${worst.toFixed(0)} ms while a batch took ${write.toFixed(0)} ms to store`);
});
