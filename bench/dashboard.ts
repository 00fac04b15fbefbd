// Dashboard figures (issue 18 point 5), one JSON line:
//   firstLoadKiB            what the first load transfers, gzipped (index + script + styles; goal ≤ 300 KB)
//   loadToInteractiveMs     {overview, services}: from navigation (login URL) to the first frame painted with
//                           the view drawn with all 50 instances, in the page's own clock (a MutationObserver
//                           and the next animation frame; median of 5 fresh browser contexts; goal ≤ 1 s)
//   detectedByHarnessMs     the same runs as Playwright's polling saw them (adds its own CDP round trips)
//   controlCpuIdlePct       the control plane's CPU (% of one core) over a window with no dashboard open, and
//   controlCpuDashboardPct  over the same window with one dashboard open and idle on the Services view
//   controlCpuRecordingsViewPct  the same on the Recordings view (it reads every proxy's /mesh/shadow every 5 s)
//   dashboardCpuDeltaPct    the difference (goal ≤ 2 %)
// The app: 50 instances (5 services × 10 replicas, meshed, on 2 nodes) of a tiny HTTP server, no traffic.
// Span emission (the third figure of the issue) is measured by bench/tracing.ts.
import { readFileSync } from 'node:fs';
import http from 'node:http';
import { join } from 'node:path';
import { berth, berthOk, portBlock, tempApp } from '../test/integration/harness/berth.js';

const httpApp = `import http from 'node:http';
const server = http.createServer((q, s) => s.end('ok'));
server.listen(Number(process.env.PORT), process.env.HOST);
process.on('SIGTERM', () => server.close(() => process.exit(0)));`;

const WINDOW_MS = Number(process.env.BENCH_CPU_WINDOW_MS ?? 30_000);
/** 50 instance rows drawn (a function, not a string: the page's CSP forbids eval; no DOM types here). */
const allRows = () => (globalThis as unknown as { document: { querySelectorAll(s: string): { length: number } } }).document.querySelectorAll('tr[data-instance]').length === 50;

/**
 * Runs in the page before its scripts: notes (page clock, ms since navigation) when `count` elements
 * match `selector`, then when the frame showing them has been painted (a task after the next frame).
 */
const notePainted = ({ selector, count }: { selector: string; count: number }) => {
  type W = { __drawn?: number; __painted?: number; document: { querySelectorAll(s: string): { length: number } } };
  const w = globalThis as unknown as W;
  const g = globalThis as unknown as { MutationObserver: new (cb: () => void) => { observe(n: unknown, o: object): void; disconnect(): void }; requestAnimationFrame(cb: () => void): void; performance: { now(): number } };
  const mo = new g.MutationObserver(() => {
    if (w.__drawn !== undefined || w.document.querySelectorAll(selector).length < count) return;
    w.__drawn = g.performance.now();
    mo.disconnect();
    g.requestAnimationFrame(() => setTimeout(() => (w.__painted = g.performance.now())));
  });
  mo.observe(w.document, { childList: true, subtree: true });
};
const painted = () => (globalThis as unknown as { __painted?: number }).__painted !== undefined;
const paintedAt = () => {
  const g = globalThis as unknown as { __painted: number; performance: { timeOrigin: number } };
  return [g.__painted, g.performance.timeOrigin];
};

/** Where a load's time went, in the page's clock: [start, end] ms of the document and of each resource. */
const resourceTimes = () => {
  type Entry = { name: string; startTime: number; responseEnd: number };
  const perf = (globalThis as unknown as { performance: { getEntriesByType(t: string): Entry[]; now(): number } }).performance;
  const out: Record<string, [number, number]> = {};
  for (const e of [...perf.getEntriesByType('navigation'), ...perf.getEntriesByType('resource')]) out[e.name.replace(/^https?:\/\/[^/]+/, '').replace(/\?token=.*/, '')] = [Math.round(e.startTime), Math.round(e.responseEnd)];
  out.painted = [0, Math.round((globalThis as unknown as { __painted?: number }).__painted ?? perf.now())];
  return out;
};

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

/** utime + stime of a process, in clock ticks (100 per second on Linux). */
function cpuTicks(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return Number(f[11]) + Number(f[12]);
}

async function cpuPercent(pid: number, ms: number): Promise<number> {
  const t0 = performance.now();
  const c0 = cpuTicks(pid);
  await new Promise((r) => setTimeout(r, ms));
  return Math.round(((cpuTicks(pid) - c0) / 100 / ((performance.now() - t0) / 1000)) * 1000) / 10;
}

function gzBytes(url: string, cookie: string): Promise<number> {
  return new Promise((resolve, reject) =>
    http
      .get(url, { headers: { cookie, 'accept-encoding': 'gzip' }, agent: false }, (res) => {
        let n = 0;
        res.on('data', (d: Buffer) => (n += d.length));
        res.on('end', () => resolve(n));
      })
      .on('error', reject),
  );
}

async function main(): Promise<void> {
  const port = portBlock(5);
  const services = ['a', 'b', 'c', 'd', 'e'];
  const spec = `app: bench-dashboard\nnodes: 2\nservices:\n${services
    .map((s, i) => `  ${s}:\n    run: node app.mjs\n    port: ${port + i}\n    replicas: 10\n${i < 4 ? `    uses: [${services[i + 1]}]\n` : ''}    probes:\n      readiness: { tcp: {} }\n`)
    .join('')}`;
  const dir = tempApp({ 'app.mjs': httpApp, 'berth.yaml': spec });
  const { chromium } = await import('playwright-core');
  const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: ['--no-sandbox'] });
  try {
    await berthOk(dir, ['up', '-d', '--wait', '--timeout', '240'], { timeoutMs: 300_000 });
    const d = JSON.parse((await berthOk(dir, ['dashboard', '--no-open', '--json'])).stdout) as { url: string; base: string; port: number };
    const token = new URL(d.url).searchParams.get('token')!;
    const cookie = `berth_dashboard_${d.port}=${token}`;
    let bytes = 0;
    for (const p of ['', 'assets/app.js', 'assets/app.css']) bytes += await gzBytes(d.base + p, cookie);
    const pid = (JSON.parse(readFileSync(join(dir, '.berth', 'control.json'), 'utf8')) as { pid: number }).pid;

    const timings: Record<'overview' | 'services', number[]> = { overview: [], services: [] };
    const detected: Record<'overview' | 'services', number[]> = { overview: [], services: [] };
    const drawnWhen = { overview: { selector: '[data-service=e]', count: 1 }, services: { selector: 'tr[data-instance]', count: 50 } };
    const breakdowns: Record<string, [number, number]>[] = [];
    for (let i = 0; i < 5; i++) {
      for (const v of ['overview', 'services'] as const) {
        const ctx = await browser.newContext();
        const page = await ctx.newPage();
        await page.addInitScript(notePainted, drawnWhen[v]);
        const t = performance.now();
        const wall = Date.now();
        await page.goto(`${d.base}${v}?token=${token}`);
        if (v === 'overview') await page.waitForSelector('[data-service=e]');
        else await page.waitForFunction(allRows, undefined, { timeout: 30_000 });
        detected[v].push(Math.round(performance.now() - t));
        await page.waitForFunction(painted, undefined, { timeout: 30_000 });
        const [at, origin] = await page.evaluate(paintedAt);
        timings[v].push(Math.round(origin - wall + at)); // from the goto call, in the page's clock
        if (v === 'services') breakdowns.push(await page.evaluate(resourceTimes));
        await ctx.close();
      }
    }

    const idle = await cpuPercent(pid, WINDOW_MS);
    const ctx = await browser.newContext();
    const page = await ctx.newPage();
    await page.goto(`${d.base}services?token=${token}`);
    await page.waitForFunction(allRows, undefined, { timeout: 30_000 });
    await new Promise((r) => setTimeout(r, 2000));
    const open = await cpuPercent(pid, WINDOW_MS);
    // The Recordings view re-reads the recordings and replay runs, and every proxy's /mesh/shadow, while open.
    await page.click('a[data-view=recordings]');
    await page.waitForSelector('[data-testid=shadow]', { timeout: 30_000 });
    await new Promise((r) => setTimeout(r, 2000));
    const recordingsOpen = await cpuPercent(pid, WINDOW_MS);
    await ctx.close();

    const loadavg = readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).map(Number);
    process.stdout.write(
      JSON.stringify({
        bench: 'dashboard',
        instances: 50,
        firstLoadKiB: Math.round((bytes / 1024) * 10) / 10,
        loadToInteractiveMs: { overview: median(timings.overview), services: median(timings.services), runs: timings },
        detectedByHarnessMs: { overview: median(detected.overview), services: median(detected.services) },
        // The Services run closest to the median: [start, end] of each request in the page's clock.
        servicesBreakdownMs: breakdowns[timings.services.indexOf(median(timings.services))],
        controlCpuIdlePct: idle,
        controlCpuDashboardPct: open,
        dashboardCpuDeltaPct: Math.round((open - idle) * 10) / 10,
        controlCpuRecordingsViewPct: recordingsOpen,
        recordingsViewCpuDeltaPct: Math.round((recordingsOpen - idle) * 10) / 10,
        cpuWindowMs: WINDOW_MS,
        loadavg,
        spanEmission: 'see bench/tracing (npm run bench:tracing)',
      }) + '\n',
    );
  } finally {
    await browser.close();
    await berth(dir, ['down'], { timeoutMs: 120_000 });
  }
}

await main();
