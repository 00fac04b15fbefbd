// The dashboard (issue 18) in a real browser: playwright-core drives Debian's chromium against the
// shop example run by the real `berth up`. Access needs the login token (401 without it; the token in
// the URL becomes an HttpOnly SameSite=Strict cookie and is dropped from the address); every view
// loads without a console error; the overview draws web → orders → inventory from the sidecars'
// counters; the instance table follows a killed and restarted instance; a log search finds a line the
// app wrote; the Restart button replaces an instance; metric points survive a control-plane restart;
// with `mesh.tracing` a request through web → orders → inventory is one trace of three hops (API,
// waterfall, a log line's link, the OTLP receiver) that survives the restart too.
// Screenshots of every view go to a temp dir (printed), a few of which are committed under docs/.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { berth, berthOk, copyShop, httpRequest, processAlive, ps, waitFor } from './harness/berth.js';
import { chromiumPath } from './replay-helpers/servers.js';
import type { Doc } from './harness/dashboard-browser.js';

interface Reply {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

/** One request with chosen headers (cookies, bearer, gzip), on a fresh connection. */
function request(url: string, opts: { method?: string; headers?: Record<string, string>; body?: string } = {}): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method: opts.method ?? 'GET', headers: opts.headers, agent: false, timeout: 5000 }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (d: Buffer) => chunks.push(d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('latin1') }));
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
    req.end(opts.body);
  });
}


const shots = mkdtempSync(join(tmpdir(), 'berth-dashboard-shots-'));

describe('dashboard', { skip: chromiumPath() === undefined ? 'no /usr/bin/chromium (required under CI)' : false, timeout: 300_000 }, () => {
  let shop: ReturnType<typeof copyShop>;
  let url: string;
  let base: string;
  let browser: Browser;
  let ctx: BrowserContext;
  let page: Page;
  const consoleErrors: string[] = [];
  let load: { stop: () => Promise<void> } | undefined;
  /** A real OTLP/HTTP receiver (`mesh.tracing.otlp`): what the proxies POST to /v1/traces. */
  const otlpGot: { path: string; body: { resourceSpans: { resource: { attributes: { key: string; value: { stringValue?: string } }[] }; scopeSpans: { spans: { traceId: string; parentSpanId?: string; kind: number }[] }[] }[] } }[] = [];
  let otlp: http.Server | undefined;
  let tracedId: string | undefined;

  /** Requests through the gateway in a loop (so the sidecars count traffic on every edge). */
  function traffic(): { stop: () => Promise<void> } {
    let stopped = false;
    const loop = (async () => {
      while (!stopped) {
        await httpRequest(`http://127.0.0.1:${shop.web}/`, 'GET', 3000).catch(() => undefined);
        await new Promise((r) => setTimeout(r, 50));
      }
    })();
    return {
      stop: async () => {
        stopped = true;
        await loop;
      },
    };
  }

  async function view(id: string, ready: string): Promise<void> {
    await page.click(`a[data-view=${id}]`);
    await page.waitForSelector(`[data-testid=view-${id}]`);
    await page.waitForSelector(ready, { timeout: 30_000 });
  }

  const shot = (name: string) => page.screenshot({ path: join(shots, `${name}.png`) });

  before(async () => {
    process.env.BERTH_DASHBOARD_METRICS_MS = '1000'; // points every second, so charts fill within the test
    shop = copyShop();
    otlp = http.createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        otlpGot.push({ path: req.url ?? '', body: JSON.parse(Buffer.concat(chunks).toString()) as (typeof otlpGot)[number]['body'] });
        res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
      });
    });
    await new Promise<void>((r) => otlp!.listen(0, '127.0.0.1', r));
    const spec = join(shop.dir, 'berth.yaml');
    writeFileSync(spec, `${readFileSync(spec, 'utf8')}mesh:\n  tracing: { sample: 0.1, otlp: "http://127.0.0.1:${(otlp.address() as { port: number }).port}" }\n`);
    await berthOk(shop.dir, ['up', '-d', '--wait', '--timeout', '90'], { timeoutMs: 120_000 });
    const d = JSON.parse((await berthOk(shop.dir, ['dashboard', '--no-open', '--json'])).stdout) as { url: string; base: string; port: number; opened: boolean };
    url = d.url;
    base = d.base;
    assert.equal(d.opened, false);
    assert.match(url, /^http:\/\/127\.0\.0\.1:\d+\/\?token=[0-9a-f]{48}$/);
    const { chromium } = await import('playwright-core');
    browser = await chromium.launch({ executablePath: chromiumPath(), args: ['--no-sandbox'] });
    ctx = await browser.newContext({ viewport: { width: 1400, height: 860 } });
    page = await ctx.newPage();
    page.on('console', (m) => {
      if (m.type() === 'error') consoleErrors.push(`${page.url()}: ${m.text()}`);
    });
    page.on('pageerror', (e) => consoleErrors.push(`${page.url()}: ${e.message}`));
    load = traffic();
  });

  after(async () => {
    await load?.stop();
    await browser?.close();
    if (shop) await berth(shop.dir, ['down']);
    otlp?.close();
    console.log(`dashboard screenshots: ${shots}`);
  });

  test('without the token every page and API answers 401; the token sets an HttpOnly SameSite=Strict cookie', async () => {
    for (const path of ['/', '/services', '/assets/app.js', '/api/v1/instances', '/api/v1/dashboard/overview', '/api/v1/dashboard/stream'])
      assert.equal((await request(base + path.slice(1))).status, 401, path);
    assert.equal((await request(`${base}?token=${'0'.repeat(48)}`)).status, 401, 'a wrong token');
    const token = new URL(url).searchParams.get('token')!;
    assert.equal(statSync(join(shop.dir, '.berth', 'dashboard-token')).mode & 0o777, 0o600);
    assert.equal(readFileSync(join(shop.dir, '.berth', 'dashboard-token'), 'utf8').trim(), token);
    const login = await request(url);
    assert.equal(login.status, 302);
    assert.equal(login.headers.location, '/');
    const setCookie = String(login.headers['set-cookie']);
    assert.match(setCookie, /HttpOnly/);
    assert.match(setCookie, /SameSite=Strict/);
    const cookie = setCookie.split(';')[0];
    // The cookie reads pages and the API; it may act as the CLI does, only with the header a cross-site form cannot send, and never apply or down.
    assert.equal((await request(`${base}services`, { headers: { cookie } })).status, 200);
    assert.equal((await request(`${base}api/v1/instances`, { headers: { cookie } })).status, 200);
    assert.equal((await request(`${base}api/v1/scale`, { method: 'POST', headers: { cookie, 'content-type': 'application/json' }, body: '{"service":"web","replicas":2}' })).status, 403);
    assert.equal((await request(`${base}api/v1/down`, { method: 'POST', headers: { cookie, 'x-berth-dashboard': '1' }, body: '{}' })).status, 403);
    // `tail=N`: the newest N events (what the views ask for), the same as the end of the whole list.
    const all = JSON.parse((await request(`${base}api/v1/events?limit=10000`, { headers: { cookie } })).body) as { seq: number }[];
    const tail = JSON.parse((await request(`${base}api/v1/events?tail=3`, { headers: { cookie } })).body) as { seq: number }[];
    assert.ok(all.length > 3);
    assert.deepEqual(tail.map((e) => e.seq), all.slice(-3).map((e) => e.seq));
    // Another port's cookie (another app on 127.0.0.1) does not open this one.
    assert.equal((await request(`${base}api/v1/instances`, { headers: { cookie: cookie.replace(/_\d+=/, '_1=') } })).status, 401);
  });

  test('berth dashboard opens the URL with $BROWSER unless --no-open; outside a running app it fails', async () => {
    const opened = join(shots, 'opened.txt');
    const fake = join(shots, 'fake-browser.sh');
    writeFileSync(fake, `#!/bin/sh\necho "$1" > ${opened}\n`, { mode: 0o755 });
    const r = await berth(shop.dir, ['dashboard'], { env: { BROWSER: fake } });
    assert.equal(r.code, 0, r.stderr);
    assert.ok(r.stdout.includes(url), r.stdout);
    await waitFor('the browser command to run', () => existsSync(opened) && readFileSync(opened, 'utf8').trim() === url, 10_000);
    const none = await berth(mkdtempSync(join(tmpdir(), 'berth-nodash-')), ['dashboard', '--no-open'], { env: { BERTH_SLOT_REGISTRY: mkdtempSync(join(tmpdir(), 'berth-noslots-')) } });
    assert.notEqual(none.code, 0);
  });

  test('the first load transfers at most 300 KB gzipped', async () => {
    let total = 0;
    for (const path of ['', 'assets/app.js', 'assets/app.css']) {
      const r = await request(base + path, { headers: { cookie: `berth_dashboard_${new URL(base).port}=${new URL(url).searchParams.get('token')}`, 'accept-encoding': 'gzip' } });
      assert.equal(r.status, 200, path);
      assert.equal(r.headers['content-encoding'], 'gzip', path);
      total += Number(r.headers['content-length']);
    }
    assert.ok(total <= 300_000, `first load ${total} bytes gzipped`);
  });

  test('the login URL lands on the clean address; the overview draws web → orders → inventory with live rates', async () => {
    await page.goto(url);
    await page.waitForSelector('[data-testid=view-overview]');
    assert.equal(page.url(), base, 'the token is gone from the address bar');
    for (const s of ['web', 'orders', 'inventory']) await page.waitForSelector(`[data-service=${s}]`);
    // Measured edges carry their rates (labels appear once the sidecars counted two windows).
    for (const e of ['ingress→web', 'web→orders', 'orders→inventory']) await page.waitForSelector(`[data-edge="${e}"] text`, { timeout: 30_000 });
    const label = await page.textContent('[data-edge="web→orders"]');
    assert.match(label ?? '', /req\/s.*err.*p99/s);
    await shot('overview');
  });

  test('every view loads without console errors', async () => {
    await view('services', '[data-testid=service-web] tr[data-instance]');
    await shot('services');
    await view('logs', '[data-testid=log-row]');
    await shot('logs');
    await view('metrics', '[data-testid=charts] .uplot');
    await shot('metrics');
    await view('events', 'tbody tr');
    await shot('events');
    await view('nodes', 'tr[data-node=node-1]');
    await shot('nodes');
    await view('traces', '[data-testid=trace-search]');
    await view('overview', '[data-service=web]');
    assert.deepEqual(consoleErrors, []);
  });

  test('the instance table follows an instance killed and restarted by its node agent', async () => {
    await view('services', '[data-testid=service-inventory] tr[data-instance]');
    const row = '[data-testid=service-inventory] tr[data-instance]';
    const pid = Number(await page.textContent(`${row} [data-testid=pid]`));
    const restarts = Number(await page.textContent(`${row} [data-testid=restarts]`));
    assert.ok(pid > 0 && processAlive(pid));
    process.kill(pid, 'SIGKILL');
    // No reload: the page learns of it over the event stream.
    await page.waitForFunction(
      ([sel, n]) => {
        const doc = (globalThis as unknown as { document: Doc }).document;
        return Number(doc.querySelector(`${sel} [data-testid=restarts]`)?.textContent) > n && doc.querySelector(`${sel} [data-testid=status]`)?.textContent === 'ready';
      },
      [row, restarts] as const,
      { timeout: 30_000 },
    );
    const newPid = Number(await page.textContent(`${row} [data-testid=pid]`));
    assert.ok(newPid > 0 && newPid !== pid, `pid ${pid} → ${newPid}`);
    await shot('services-after-kill');
    assert.deepEqual(consoleErrors, []);
  });

  test('a log search finds a line the app wrote', async () => {
    const marker = `dashprobe${process.pid}x${Date.now()}`;
    assert.equal((await httpRequest(`http://127.0.0.1:${shop.web}/?${marker}=1`)).status, 200);
    // The line reaches the log store through the log agent (batches); search until it is there.
    await view('logs', '[data-testid=log-search]');
    await page.fill('[data-testid=log-search] input[name=grep]', marker);
    await page.selectOption('[data-testid=log-search] select[name=service]', 'web');
    await waitFor(
      'the marker line in the search results',
      async () => {
        await page.click('[data-testid=log-search] button[type=submit]');
        await page.waitForSelector('[data-testid=log-row], .logs tbody', { timeout: 5000 });
        const rows = await page.$$eval('[data-testid=log-row]', (trs) => trs.map((t) => t.textContent ?? ''));
        // The app's own request line (the sidecar's access-log line about the same request may be there too).
        return rows.length > 0 && rows.every((r) => r.includes(marker)) && rows.some((r) => r.includes(`GET /?${marker}=1 200`)) ? rows : undefined;
      },
      30_000,
      1000,
    );
    // A record's fields open below it.
    await page.click('[data-testid=log-row] >> nth=0');
    const fields = await page.textContent('tr.fields pre');
    assert.match(fields ?? '', /"instance": "web-/);
    await shot('logs-search');
    assert.deepEqual(consoleErrors, []);
  });

  test('a request through web → orders → inventory is one trace of three hops: in the API, as a waterfall, from its log line, at the OTLP receiver', async () => {
    const token = readFileSync(join(shop.dir, '.berth', 'token'), 'utf8').trim();
    const api = async (path: string): Promise<Reply> => request(`${base}${path.slice(1)}`, { headers: { authorization: `Bearer ${token}` } });
    // Our own sampled traceparent: the gateway keeps its trace id and sampled flag (the spec samples 0.1 of new traces).
    const traceId = randomBytes(16).toString('hex');
    tracedId = traceId;
    const sent = await request(`http://127.0.0.1:${shop.web}/`, { headers: { traceparent: `00-${traceId}-${randomBytes(8).toString('hex')}-01` } });
    assert.equal(sent.status, 200);
    assert.match(sent.body, /stock:/, 'web called orders, which called inventory');
    type Span = { spanId: string; parentId?: string; kind: string; service: string; source?: string; status: number; variant: string; route: string; durationMs: number };
    const got = await waitFor(
      'the trace with its six spans (three hops) at the control plane',
      async () => {
        const r = await api(`/api/v1/traces/${traceId}`);
        if (r.status !== 200) return undefined;
        const t = JSON.parse(r.body) as { trace: { services: string[]; root: string; status: number }; spans: Span[] };
        return t.spans.length >= 6 ? t : undefined;
      },
      20_000,
      500,
    );
    const hops = got.spans.filter((s) => s.kind === 'client');
    assert.deepEqual(hops.map((s) => `${s.source}→${s.service}`), ['ingress→web', 'web→orders', 'orders→inventory']);
    assert.deepEqual(got.spans.filter((s) => s.kind === 'server').map((s) => s.service), ['web', 'orders', 'inventory']);
    assert.equal(got.trace.root, 'web');
    assert.deepEqual([...got.trace.services].sort(), ['inventory', 'orders', 'web']);
    for (const s of got.spans) assert.equal(s.status, 200);
    // One chain: each arrival's parent is its hop; each later hop's parent is the caller's arrival.
    const server = (svc: string) => got.spans.find((s) => s.kind === 'server' && s.service === svc)!;
    assert.equal(server('web').parentId, hops[0].spanId);
    assert.equal(hops[1].parentId, server('web').spanId);
    assert.equal(server('orders').parentId, hops[1].spanId);
    assert.equal(hops[2].parentId, server('orders').spanId);
    assert.equal(server('inventory').parentId, hops[2].spanId);
    assert.ok(hops[0].durationMs >= hops[1].durationMs && hops[1].durationMs >= hops[2].durationMs, 'a hop lasts as long as the hops it waits for');
    // Found by service, status and duration.
    const ids = async (q: string) => (JSON.parse((await api(`/api/v1/traces?${q}`)).body) as { traces: { traceId: string }[] }).traces.map((t) => t.traceId);
    assert.ok((await ids('service=inventory&limit=1000')).includes(traceId));
    assert.ok(!(await ids('status=error&limit=1000')).includes(traceId));
    assert.ok(!(await ids('minMs=600000')).includes(traceId));
    assert.equal((await api('/api/v1/traces?status=bad')).status, 400);
    // The waterfall: searched by service, opened from the list.
    await view('traces', '[data-testid=trace-search]');
    await page.selectOption('[data-testid=trace-search] select[name=service]', 'inventory');
    await page.click('[data-testid=trace-search] button[type=submit]');
    await page.click(`[data-testid=trace-row][data-trace="${traceId}"]`);
    await page.waitForSelector(`[data-testid=waterfall][data-trace="${traceId}"]`);
    const rows = await page.$$eval('[data-testid=waterfall] [data-testid=span]', (trs) => trs.map((t) => `${t.getAttribute('data-kind')}:${t.getAttribute('data-source')}>${t.getAttribute('data-service')}`));
    assert.deepEqual(rows, ['client:ingress>web', 'server:ingress>web', 'client:web>orders', 'server:web>orders', 'client:orders>inventory', 'server:orders>inventory']);
    assert.match((await page.textContent('[data-testid=waterfall] .card-head')) ?? '', /3 hops/);
    await shot('traces');
    // The proxies' access-log lines carry the trace id: a log line links to its trace.
    await view('logs', '[data-testid=log-search]');
    await page.fill('[data-testid=log-search] input[name=grep]', traceId);
    await page.selectOption('[data-testid=log-search] select[name=service]', '');
    await waitFor(
      'an access-log line of the trace',
      async () => {
        await page.click('[data-testid=log-search] button[type=submit]');
        await page.waitForSelector('[data-testid=log-row], .logs tbody', { timeout: 5000 });
        return (await page.$$('[data-testid=log-trace]')).length > 0 ? true : undefined;
      },
      30_000,
      1000,
    );
    await page.click('[data-testid=log-trace] >> nth=0');
    await page.waitForSelector(`[data-testid=view-traces] [data-testid=waterfall][data-trace="${traceId}"]`);
    assert.equal(new URL(page.url()).search, `?trace=${traceId}`);
    // The OTLP/HTTP receiver got the same spans, one resource per proxy's service.
    await waitFor('the trace at the OTLP receiver', () => {
      const spans = otlpGot.flatMap((g) => g.body.resourceSpans.flatMap((r) => r.scopeSpans.flatMap((ss) => ss.spans.map((sp) => ({ ...sp, service: r.resource.attributes.find((a) => a.key === 'service.name')?.value.stringValue })))));
      const mine = spans.filter((sp) => sp.traceId === traceId);
      return mine.length >= 6 ? mine : undefined;
    }, 10_000, 250);
    assert.ok(otlpGot.every((g) => g.path === '/v1/traces'));
    assert.deepEqual(consoleErrors, []);
  });

  test('the Restart button restarts the service’s instance, as `berth restart`', async () => {
    const before = (await ps(shop.dir)).filter((r) => r.service === 'orders');
    assert.equal(before.length, 1);
    await view('services', `[data-testid=service-orders] tr[data-instance="${before[0].instance}"]`);
    await page.click('[data-testid=restart-orders]');
    await page.waitForSelector('.modal');
    await shot('confirm-restart');
    await page.click('.modal [data-testid=confirm]');
    await page.waitForSelector('.modal', { state: 'detached' });
    // The table shows the replacement (a new instance of a new revision), ready, and the old one gone.
    await page.waitForFunction(
      (old) => {
        const rows = Array.from((globalThis as unknown as { document: Doc }).document.querySelectorAll('[data-testid=service-orders] tr[data-instance]'));
        return rows.length === 1 && rows[0].getAttribute('data-instance') !== old && rows[0].querySelector('[data-testid=status]')?.textContent === 'ready';
      },
      before[0].instance,
      { timeout: 60_000 },
    );
    const now = (await ps(shop.dir)).filter((r) => r.service === 'orders');
    assert.equal(now.length, 1);
    assert.notEqual(now[0].instance, before[0].instance);
    assert.notEqual(now[0].revision, before[0].revision);
    assert.ok(now[0].ready);
    const events = JSON.parse((await berthOk(shop.dir, ['events', '--json'])).stdout) as { reason: string; service?: string }[];
    assert.ok(events.some((e) => e.reason === 'RolloutRestart' && e.service === 'orders'));
    assert.deepEqual(consoleErrors, []);
  });

  test('metric points survive a control-plane restart', async () => {
    const token = readFileSync(join(shop.dir, '.berth', 'token'), 'utf8').trim();
    const points = async (b: string) => JSON.parse((await request(`${b}api/v1/dashboard/metrics?since=0`, { headers: { authorization: `Bearer ${token}` } })).body) as { t: number; kind: string }[];
    const before = await points(base);
    assert.ok(before.some((p) => p.kind === 'edge') && before.some((p) => p.kind === 'service'), `${before.length} points`);
    const info = JSON.parse(readFileSync(join(shop.dir, '.berth', 'control.json'), 'utf8')) as { pid: number };
    process.kill(info.pid, 'SIGTERM'); // the control plane alone: node agents and instances keep running
    await waitFor('the control plane gone', () => !processAlive(info.pid), 15_000);
    await berthOk(shop.dir, ['up', '-d', '--wait', '--timeout', '90'], { timeoutMs: 120_000 });
    const d = JSON.parse((await berthOk(shop.dir, ['dashboard', '--no-open', '--json'])).stdout) as { base: string };
    assert.equal(d.base, base, 'the restarted control plane took its port again');
    const afterRestart = await points(d.base);
    const oldest = Math.min(...before.map((p) => p.t));
    assert.ok(afterRestart.some((p) => p.t === oldest), 'the points from before the restart are still there');
    // The open page reconnected by itself (same port, same cookie) and charts the whole history.
    await page.waitForSelector('.nav .live.live', { timeout: 30_000 });
    await view('metrics', '[data-testid=charts] .uplot');
    await page.click('text=last 5m');
    await page.waitForSelector('[data-testid=charts] .uplot');
    await shot('metrics-after-restart');
    // Traces are kept too.
    if (tracedId) assert.equal((await request(`${d.base}api/v1/traces/${tracedId}`, { headers: { authorization: `Bearer ${token}` } })).status, 200, 'the trace survived the restart');
  });
});
