// The dashboard's Recordings and replays and Components views (issue 18, with issue 15's recording and
// replay) in a real browser (playwright-core, Debian's chromium) against an app run by the real
// `berth up`: front → back behind the ingress, front's route mirrored to its variant v2 (which
// charges twice the price), two building-block components and a declarative subscription, and
// `mesh.tracing` at sample 1. A recording started with the CLI is listed and the Stop button stops
// it; a `berth replay` run of it against front@v2 is kept in .berth/replays/ and its report shows
// the differing field with expected and actual values; the shadow diff of the mirrored traffic and
// the components (with the state one opened by a request) show; `berth traces` finds the requests
// and `berth traces show` prints the waterfall. No console errors; screenshots saved (printed).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { berth, portBlock, tempApp, waitFor } from './harness/berth.js';
import { chromiumPath } from './replay-helpers/servers.js';
import { openDashboard, type Doc } from './harness/dashboard-browser.js';

const FRONT = `
import http from 'node:http';
const back = process.env.BERTH_BACK_URL;
const tax = Number(process.env.TAX ?? 1);
const dapr = 'http://127.0.0.1:' + process.env.DAPR_HTTP_PORT;
http.createServer(async (req, res) => {
  if (req.url === '/ready') return res.end('ok');
  if (req.url === '/save') {
    const r = await fetch(dapr + '/v1.0/state/statestore', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify([{ key: 'k', value: 'v' }]) });
    res.writeHead(r.status);
    return res.end(await r.text());
  }
  const m = /^\\/price\\/(\\w+)$/.exec(req.url);
  if (!m) { res.writeHead(404); return res.end('no'); }
  const r = await fetch(back + '/item/' + m[1], { headers: { traceparent: req.headers.traceparent ?? '' } });
  const item = await r.json();
  res.writeHead(200, { 'content-type': 'application/json' });
  res.end(JSON.stringify({ sku: item.sku, price: item.price * tax, served: Date.now() }));
}).listen(Number(process.env.PORT), process.env.HOST);
`;

const BACK = `
import http from 'node:http';
http.createServer((req, res) => {
  if (req.url === '/ready') return res.end('ok');
  const sku = req.url.split('/').pop();
  res.writeHead(200, { 'content-type': 'application/json' });
  res.end(JSON.stringify({ sku, price: sku.length * 10 }));
}).listen(Number(process.env.PORT), process.env.HOST);
`;

function spec(p: { ingress: number; front: number; back: number }): string {
  return `app: dashrec-${p.front}
ingress: { port: ${p.ingress}, routes: [{ to: front }] }
mesh:
  tracing: { sample: 1 }
components:
  statestore: { type: state.sqlite, metadata: { connectionString: state.db } }
  cache: { type: state.in-memory, scopes: [front] }
  orders-bus: { type: pubsub.in-memory }
services:
  front:
    run: node front.mjs
    port: ${p.front}
    uses: [back]
    env: { TAX: "1" }
    dapr: { enabled: true }
    replay: { ignore: [$.served] }
    routes:
      - match: { path: { prefix: /price/ } }
        to: [{ service: front, variant: default, weight: 100 }]
        mirror: { service: front, variant: v2, percent: 100 }
      - to: [{ service: front, variant: default, weight: 100 }]
    variants:
      v2: { env: { TAX: "2" } }
    probes: { readiness: { http: { path: /ready }, periodSeconds: 0.5 } }
  back:
    run: node back.mjs
    port: ${p.back}
    dapr: { enabled: false }
    probes: { readiness: { http: { path: /ready }, periodSeconds: 0.5 } }
`;
}

const SUBSCRIPTION = `apiVersion: dapr.io/v2alpha1
kind: Subscription
metadata: { name: new-orders }
spec:
  pubsubname: orders-bus
  topic: new-orders
  routes: { default: /orders }
  deadLetterTopic: orders-dead
scopes: [front]
`;

function get(port: number, path: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, path, agent: false, timeout: 5000 }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
    req.end();
  });
}


const shots = mkdtempSync(join(tmpdir(), 'berth-dashboard-rec-shots-'));

describe('dashboard: recordings, replays, components; berth traces', { skip: chromiumPath() === undefined ? 'no /usr/bin/chromium (required under CI)' : false, timeout: 300_000 }, () => {
  const base = portBlock(3);
  const P = { ingress: base, front: base + 1, back: base + 2 };
  const cwd = tempApp({ 'berth.yaml': spec(P), 'front.mjs': FRONT, 'back.mjs': BACK });
  let browser: Browser;
  let page: Page;
  let consoleErrors: string[] = [];
  let recordingId = '';

  async function view(id: string, ready: string): Promise<void> {
    await page.click(`a[data-view=${id}]`);
    await page.waitForSelector(`[data-testid=view-${id}]`);
    await page.waitForSelector(ready, { timeout: 30_000 });
  }
  const shot = (name: string) => page.screenshot({ path: join(shots, `${name}.png`), fullPage: true });

  before(async () => {
    // The subscription lives in a components folder (Dapr's format), beside the inline components.
    mkdirSync(join(cwd, 'components'));
    writeFileSync(join(cwd, 'components', 'subscriptions.yaml'), SUBSCRIPTION);
    const up = await berth(cwd, ['up', '-d', '--wait', '--timeout', '90'], { timeoutMs: 120_000 });
    assert.equal(up.code, 0, `berth up failed: ${up.stdout}\n${up.stderr}`);
    await waitFor('front answers through the ingress', async () => (await get(P.ingress, '/price/mug').catch(() => ({ status: 0 }))).status === 200, 30_000);
    const d = JSON.parse((await berth(cwd, ['dashboard', '--no-open', '--json'])).stdout) as { url: string };
    ({ browser, page, consoleErrors } = await openDashboard(d.url));
  });

  after(async () => {
    await browser?.close();
    await berth(cwd, ['down']);
    console.log(`dashboard recordings screenshots: ${shots}`);
  });

  test('a recording started with the CLI is listed (entries counted as they are written); the Stop button stops it', async () => {
    const start = await berth(cwd, ['record', 'start', 'front', '--json']);
    assert.equal(start.code, 0, `${start.stdout}\n${start.stderr}`);
    recordingId = (JSON.parse(start.stdout) as { id: string }).id;
    await view('recordings', '[data-testid=recording][data-service=front][data-state=recording]');
    // The sidecars pick the recording up from their next snapshot.
    await new Promise((r) => setTimeout(r, 1000));
    for (const sku of ['mug', 'cap', 'poster', 'tshirt']) assert.equal((await get(P.ingress, `/price/${sku}`)).status, 200);
    // The view re-reads an active recording every 2 s: the entry count grows without a reload.
    await page.waitForFunction(
      () => Number((globalThis as unknown as { document: Doc }).document.querySelector('[data-testid=recording][data-service=front] [data-testid=recording-entries]')?.textContent ?? 0) >= 4,
      undefined,
      { timeout: 20_000 },
    );
    await shot('recordings-active');
    await page.click('[data-testid=record-stop-front]');
    await page.click('.modal [data-testid=confirm]');
    await page.waitForSelector('[data-testid=recording][data-service=front][data-state=stopped]', { timeout: 20_000 });
    const ls = JSON.parse((await berth(cwd, ['record', 'ls', '--json'])).stdout) as { id: string; state: string; entries: number; files: string[] }[];
    const mine = ls.find((r) => r.id === recordingId)!;
    assert.equal(mine.state, 'stopped');
    assert.ok(mine.entries >= 4, JSON.stringify(mine));
    // The table's count is the one `berth record ls` shows.
    const shown = await page.textContent('[data-testid=recording][data-service=front] [data-testid=recording-entries]');
    assert.equal(Number(shown), mine.entries);
  });

  test('the dashboard may start a recording (with the header) but not name a file for the control plane to write', async () => {
    const d = JSON.parse((await berth(cwd, ['dashboard', '--no-open', '--json'])).stdout) as { base: string; url: string };
    const cookie = `berth_dashboard_${new URL(d.base).port}=${new URL(d.url).searchParams.get('token')}`;
    const post = (path: string, body: unknown, headers: Record<string, string> = {}) =>
      fetch(new URL(path, d.base), { method: 'POST', headers: { cookie, 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) });
    assert.equal((await post('/api/v1/recordings', { service: 'back' })).status, 403, 'without x-berth-dashboard');
    const withOut = await post('/api/v1/recordings', { service: 'back', out: join(cwd, 'evil.har') }, { 'x-berth-dashboard': '1' });
    assert.equal(withOut.status, 403);
    assert.match(((await withOut.json()) as { error: string }).error, /may not choose a file/);
    assert.ok(!readdirSync(cwd).includes('evil.har'));
    // Start from the page: the form's default service is the first free one.
    await page.click('[data-testid=record-start]');
    await page.selectOption('[data-testid=record-service]', 'back');
    await page.click('.modal [data-testid=confirm]');
    await page.waitForSelector('[data-testid=recording][data-service=back][data-state=recording]', { timeout: 20_000 });
    const stop = await berth(cwd, ['record', 'stop', 'back']);
    assert.equal(stop.code, 0, stop.stderr);
    await page.waitForSelector('[data-testid=recording][data-service=back][data-state=stopped]', { timeout: 20_000 });
  });

  test('a berth replay run is kept in .berth/replays/ and its report shows the differing field with expected and actual values', async () => {
    const har = join(cwd, 'front.har');
    const got = await berth(cwd, ['record', 'get', recordingId, '--out', har]);
    assert.equal(got.code, 0, got.stderr);
    // front@v2 charges twice the price: every request answered by the default variant differs in $.price.
    const r = await berth(cwd, ['replay', har, '--to', 'front@v2', '--rate', 'max', '--json'], { timeoutMs: 60_000 });
    assert.equal(r.code, 1, `${r.stdout}\n${r.stderr}`);
    const run = JSON.parse(r.stdout) as { diff: number; report: { endpoints: { endpoint: string; fields: { path: string }[] }[] } };
    assert.ok(run.diff >= 1);
    const kept = readdirSync(join(cwd, '.berth', 'replays')).filter((f) => f.endsWith('.json'));
    assert.equal(kept.length, 1);
    const stored = JSON.parse(readFileSync(join(cwd, '.berth', 'replays', kept[0]), 'utf8')) as { id: string; files: string[]; diff: number };
    assert.equal(stored.diff, run.diff);
    assert.deepEqual(stored.files, [har]);
    // The list refreshes by itself (every 5 s): no reload.
    await page.waitForSelector(`[data-testid=replay-row][data-id="${stored.id}"]`, { timeout: 20_000 });
    await page.click(`[data-testid=replay-row][data-id="${stored.id}"]`);
    const field = await page.waitForSelector('[data-testid=replay-report] [data-testid=endpoint][data-endpoint^="GET /price/"] [data-testid=diff-field][data-path="$.price"]', { timeout: 10_000 });
    const expected = Number(await field.$eval('.expected', (e) => e.textContent));
    const actual = Number(await field.$eval('.actual', (e) => e.textContent));
    assert.equal(actual, expected * 2, `expected ${expected}, actual ${actual}`);
    // $.served is the spec's replay.ignore of front: never reported.
    assert.equal(await page.$('[data-testid=replay-report] [data-testid=diff-field][data-path="$.served"]'), null);
    await shot('recordings');
  });

  test('shadow traffic: the gateway compares the mirrored answers of front@v2 and the view shows the differences', async () => {
    for (let i = 0; i < 3; i++) assert.equal((await get(P.ingress, `/price/mirror${i}`)).status, 200);
    await page.waitForFunction(
      () => {
        const row = (globalThis as unknown as { document: Doc }).document.querySelector('[data-testid=shadow-row][data-service=front]');
        return row !== null && /\$\.price/.test((globalThis as unknown as { document: Doc }).document.querySelector('[data-testid=shadow]')?.textContent ?? '');
      },
      undefined,
      { timeout: 20_000 },
    );
    assert.ok(consoleErrors.length === 0, consoleErrors.join('\n'));
  });

  test('the Components view lists the components (backend, scopes, services, state) and the subscription', async () => {
    assert.equal((await get(P.ingress, '/save')).status, 204, 'front saves through its sidecar: statestore opens');
    await view('components', '[data-testid=component][data-name=statestore]');
    const names = await page.$$eval('[data-testid=component]', (rows) => rows.map((r) => r.getAttribute('data-name')));
    assert.ok(['statestore', 'cache', 'orders-bus'].every((n) => names.includes(n)), JSON.stringify(names));
    await page.waitForFunction(
      () => (globalThis as unknown as { document: Doc }).document.querySelector('[data-testid=component][data-name=statestore] [data-testid=component-status]')?.textContent === 'ready',
      undefined,
      { timeout: 15_000 },
    );
    const row = (name: string) => page.textContent(`[data-testid=component][data-name=${name}]`);
    assert.match((await row('statestore')) ?? '', /state\.sqlite.*sqlite state\.db/);
    assert.match((await row('cache')) ?? '', /in the sidecar/);
    assert.match((await row('cache')) ?? '', /front/);
    await page.waitForSelector('[data-testid=subscription][data-topic=new-orders]');
    assert.match((await page.textContent('[data-testid=subscription][data-topic=new-orders]')) ?? '', /orders-dead/);
    await shot('components');
    assert.deepEqual(consoleErrors, []);
  });

  test('berth traces lists the traced requests and berth traces show prints the waterfall; bad input exits 2, an unknown trace 1', async () => {
    const list = await waitFor('traces of front', async () => {
      const r = await berth(cwd, ['traces', '--service', 'back', '--limit', '50', '--json']);
      assert.equal(r.code, 0, r.stderr);
      const traces = JSON.parse(r.stdout) as { traceId: string; services: string[]; spans: number; status: number }[];
      // Each sidecar sends its spans every second: a trace is whole once the last hop's server span came.
      return traces.some((x) => x.services.includes('front') && x.services.includes('back') && x.spans >= 4) ? traces : undefined;
    }, 20_000);
    const t = list.find((x) => x.services.includes('front') && x.services.includes('back') && x.spans >= 4)!;
    assert.ok(t, JSON.stringify(list));
    assert.equal(t.status, 200);
    const none = JSON.parse((await berth(cwd, ['traces', '--min-duration', '60s', '--json'])).stdout) as unknown[];
    assert.deepEqual(none, []);
    const errors = JSON.parse((await berth(cwd, ['traces', '--status', 'error', '--json'])).stdout) as { status: number }[];
    assert.ok(errors.every((x) => x.status >= 500), JSON.stringify(errors));
    const table = await berth(cwd, ['traces', '--service', 'back'], { env: { NO_COLOR: '1' } });
    assert.equal(table.code, 0);
    assert.match(table.stdout, /^TRACE\s+TIME\s+ENTRY\s+SERVICES/m);
    assert.ok(!table.stdout.includes('\x1b['), 'NO_COLOR');

    const show = await berth(cwd, ['traces', 'show', t.traceId], { env: { NO_COLOR: '1' } });
    assert.equal(show.code, 0, show.stderr);
    writeFileSync(join(shots, 'traces-show.txt'), show.stdout);
    assert.match(show.stdout, new RegExp(`trace ${t.traceId}`));
    assert.match(show.stdout, /ingress → front/);
    assert.match(show.stdout, /front → back/);
    assert.match(show.stdout, /GET \/item\//);
    assert.match(show.stdout, /\|[ █▒]+\|/);
    // The client span (the hop) comes before the server span it caused, one level deeper.
    const lines = show.stdout.split('\n');
    const hop = lines.findIndex((l) => l.includes('front → back'));
    assert.ok(hop > lines.findIndex((l) => l.includes('ingress → front')));
    const json = JSON.parse((await berth(cwd, ['traces', 'show', t.traceId, '--json'])).stdout) as { trace: { traceId: string }; spans: { kind: string }[] };
    assert.equal(json.trace.traceId, t.traceId);
    assert.ok(json.spans.length >= 4);

    assert.equal((await berth(cwd, ['traces', '--status', 'bad'])).code, 2);
    assert.equal((await berth(cwd, ['traces', '--min-duration', 'soon'])).code, 2);
    assert.equal((await berth(cwd, ['traces', 'show', 'xyz'])).code, 2);
    const missing = await berth(cwd, ['traces', 'show', '0'.repeat(32)]);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /no trace/);
  });
});
