// `berth replay` end to end against real HTTP services (child processes): a HAR made by a real
// browser (Playwright + Debian's chromium) is replayed, a changed JSON field is reported while a
// timestamp is learnt as noise, write requests are skipped unless allowed, pacing holds its rate,
// and the exit codes say 0 (no difference), 1 (differences, failures), 2 (usage).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readHar, validateHar, type DiffReport } from '../../src/replay/index.js';
import { berth } from './harness/berth.js';
import { browserHar, chromiumPath, isBrowserTimingQuirk, startService, syntheticHar, type Service } from './replay-helpers/servers.js';

interface ReplayJson {
  passed: boolean;
  sent: number;
  ok: number;
  failed: number;
  failures: Record<string, number>;
  diff: number;
  skipped: { sideEffects: number; filtered: number; unreplayable: number };
  durationMs: number;
  lagMs: { p50: number; max: number };
  report: DiffReport;
}

const dir = mkdtempSync(join(tmpdir(), 'berth-replay-'));
let v1: Service;
let v1b: Service; // a second run of the same code: the baseline
let v2: Service;

before(async () => {
  [v1, v1b, v2] = await Promise.all([startService('v1'), startService('v1'), startService('v2')]);
});
after(() => {
  for (const s of [v1, v1b, v2]) s?.stop();
});

const replayJson = async (args: string[]): Promise<{ code: number; out: ReplayJson; stderr: string }> => {
  const r = await berth(dir, ['replay', ...args, '--json'], { timeoutMs: 60_000 });
  assert.ok(r.stdout.trim(), `no JSON output (exit ${r.code}): ${r.stderr}`);
  return { code: r.code, out: JSON.parse(r.stdout) as ReplayJson, stderr: r.stderr };
};

describe('a HAR made by a browser', { skip: chromiumPath() === undefined ? 'no /usr/bin/chromium (required under CI)' : false }, () => {
  const har = join(dir, 'browser.har');
  before(async () => {
    await browserHar(`${v1.url}/`, har);
    await v1.reset();
  });

  test('is valid HAR 1.2 and readable', async () => {
    const doc = JSON.parse(readFileSync(har, 'utf8'));
    assert.deepEqual(validateHar(doc).filter((v) => !isBrowserTimingQuirk(v)), []);
    const { exchanges } = await readHar(har);
    const paths = exchanges.map((x) => `${x.method} ${x.url.pathname}`);
    for (const p of ['GET /', 'GET /api/items/3', 'GET /api/search', 'POST /api/orders']) assert.ok(paths.includes(p), `${p} in ${paths.join(', ')}`);
    // The later tests compare these bodies: a HAR without them would make a diff impossible.
    for (const x of exchanges.filter((x) => x.url.pathname.startsWith('/api/items/'))) assert.ok(x.response.body?.length, `body of ${x.url.pathname} in the HAR`);
  });

  test('replayed against the same code: only noise differs, learnt from a baseline; exit 0', async () => {
    const bare = await replayJson([har, '--to', v1.url, '--rate', 'max']);
    assert.equal(bare.code, 1, 'without a baseline the timestamps differ from the recording');
    assert.ok(bare.out.report.endpoints.some((e) => e.fields.some((f) => f.path === '$.at')));

    const r = await replayJson([har, '--to', v1.url, '--baseline', v1b.url, '--rate', 'max']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.out.passed, true);
    assert.equal(r.out.failed, 0);
    assert.equal(r.out.ok, r.out.sent);
    assert.ok(r.out.sent >= 6);
    const items = r.out.report.endpoints.find((e) => e.endpoint === 'GET /api/items/{n}');
    assert.ok(items && items.requests === 4 && items.diffs === 0);
    assert.ok(items.noise.includes('$.at') && items.noise.includes('$.requestId'), `noise: ${items.noise.join(', ')}`);
  });

  test('against a changed revision: the changed field is reported, the timestamp is not; exit 1 and an HTML report', async () => {
    const report = join(dir, 'report.html');
    const r = await replayJson([har, '--to', v2.url, '--baseline', v1b.url, '--rate', 'max', '--report', report]);
    assert.equal(r.code, 1);
    assert.equal(r.out.passed, false);
    assert.equal(r.out.diff, 1);
    const items = r.out.report.endpoints.find((e) => e.endpoint === 'GET /api/items/{n}')!;
    assert.equal(items.diffs, 1);
    assert.deepEqual(
      items.fields.map((f) => [f.path, f.count, f.examples[0].expected, f.examples[0].actual]),
      [['$.price', 1, '30', '45']],
    );
    for (const e of r.out.report.endpoints) assert.ok(!e.fields.some((f) => f.path === '$.at'), 'the timestamp is noise');
    const html = readFileSync(report, 'utf8');
    assert.match(html, /GET \/api\/items\/\{n\}/);
    assert.match(html, /\$\.price/);
    assert.doesNotMatch(html, /<script|<link /);
  });

  test('--against compares two live targets (primary and candidate)', async () => {
    const r = await replayJson([har, '--to', v2.url, '--against', v1.url, '--baseline', v1b.url, '--rate', 'max']);
    assert.equal(r.code, 1);
    const items = r.out.report.endpoints.find((e) => e.endpoint === 'GET /api/items/{n}')!;
    assert.deepEqual(items.fields.map((f) => f.path), ['$.price']);
    assert.equal(items.fields[0].examples[0].request.endsWith('#3') || items.fields[0].examples[0].request.length > 0, true);
  });

  test('write requests are skipped unless --allow-side-effects', async () => {
    await v1.reset();
    const r = await replayJson([har, '--to', v1.url, '--baseline', v1b.url, '--rate', 'max']);
    assert.equal(r.out.skipped.sideEffects, 1);
    assert.equal((await v1.stats()).writes, 0, 'the POST never reached the service');
    const w = await replayJson([har, '--to', v1.url, '--baseline', v1b.url, '--rate', 'max', '--allow-side-effects']);
    assert.equal(w.out.skipped.sideEffects, 0);
    assert.equal((await v1.stats()).writes, 1);
    const orders = w.out.report.endpoints.find((e) => e.endpoint === 'POST /api/orders')!;
    assert.equal(orders.requests, 1);
  });

  test('--filter replays only matching requests', async () => {
    const r = await replayJson([har, '--to', v1.url, '--baseline', v1b.url, '--rate', 'max', '--filter', 'GET /api/items/']);
    assert.equal(r.out.sent, 4);
    assert.ok(r.out.skipped.filtered >= 2);
  });
});

/**
 * The pace as the server saw it: the least-squares slope of arrival time over request number (the
 * gap the server saw on average; a burst after a late timer on a busy machine barely moves it) within -20 %/+25 % of the scheduled gap, and the whole run not much
 * longer than scheduled.
 */
function assertPace(all: number[], gapMs: number): void {
  // The second half: by then the connections are open (opening them on a busy machine can hold the
  // first requests back and release them together).
  const arrivals = all.slice(Math.floor(all.length / 2));
  const n = arrivals.length;
  const meanX = (n - 1) / 2;
  const meanY = arrivals.reduce((a, b) => a + b, 0) / n;
  let num = 0;
  let den = 0;
  arrivals.forEach((y, x) => {
    num += (x - meanX) * (y - meanY);
    den += (x - meanX) ** 2;
  });
  const slope = num / den;
  assert.ok(slope >= gapMs * 0.8 && slope <= gapMs * 1.25, `the server saw a request every ${slope.toFixed(1)} ms, expected ~${gapMs}`);
  const span = arrivals[n - 1] - arrivals[0];
  assert.ok(span <= gapMs * (n - 1) * 1.5, `span ${span.toFixed(0)} ms, expected ~${gapMs * (n - 1)}`);
}

describe('pacing', () => {
  test('a fixed rate holds within tolerance (measured at the server)', async () => {
    const har = join(dir, 'rate.har');
    writeFileSync(har, JSON.stringify(syntheticHar(41, 5, (i) => `/api/items/${i % 3}`, () => ({}))));
    await v1.reset();
    const r = await replayJson([har, '--to', v1.url, '--rate', '10/s', '--ignore', '$']);
    assert.equal(r.code, 0, r.stderr);
    const s = await v1.stats();
    assert.equal(s.arrivals.length, 41);
    // Gaps of 100 ms: long enough that a stall of the busy machine's scheduler is a small share.
    assertPace(s.arrivals, 100);
    assert.ok(r.out.durationMs >= 4000 * 0.95, `the last request left after ${r.out.durationMs} ms, before its time (4000 ms)`);
  });

  test('original pacing, scaled: 2x halves the recorded gaps', async () => {
    const har = join(dir, 'orig.har');
    writeFileSync(har, JSON.stringify(syntheticHar(41, 200, (i) => `/api/items/${i}`, () => ({}))));
    await v1.reset();
    const r = await replayJson([har, '--to', v1.url, '--rate', '2x', '--ignore', '$']);
    assert.equal(r.code, 0, r.stderr);
    const s = await v1.stats();
    assert.equal(s.arrivals.length, 41);
    assertPace(s.arrivals, 100); // recorded 200 ms apart, at 2x
    assert.ok(r.out.durationMs >= 4000 * 0.95, `the last request left after ${r.out.durationMs} ms, before its time (4000 ms)`);
    assert.ok(r.out.lagMs.p50 < 20, `lag p50 ${r.out.lagMs.p50}`);
  });
});

describe('looping', () => {
  test('--loop repeats the recording at the given rate until --duration', async () => {
    const har = join(dir, 'loop.har');
    writeFileSync(har, JSON.stringify(syntheticHar(5, 10, (i) => `/api/items/${i}`, () => ({}))));
    await v1.reset();
    const r = await replayJson([har, '--to', v1.url, '--rate', '50/s', '--loop', '--duration', '1s', '--ignore', '$']);
    assert.equal(r.code, 0, r.stderr);
    // 1 s at 50/s: 50 requests (the one due exactly at 1 s may or may not leave).
    assert.ok(r.out.sent >= 45 && r.out.sent <= 51, `sent ${r.out.sent}`);
    assert.equal((await v1.stats()).arrivals.length, r.out.sent);
  });
});

describe('exit codes', () => {
  const har = join(dir, 'codes.har');
  before(() => writeFileSync(har, JSON.stringify(syntheticHar(3, 1, (i) => `/api/items/${i + 1}`, (i) => ({ id: i + 1, name: `item ${i + 1}`, price: 10 * (i + 1) })))));

  test('0 when nothing differs beyond ignored fields, 1 on a difference', async () => {
    const ok = await replayJson([har, '--to', v1.url, '--rate', 'max', '--ignore', '$.at,$.requestId']);
    assert.equal(ok.code, 0, JSON.stringify(ok.out.report));
    const bad = await replayJson([har, '--to', v2.url, '--rate', 'max', '--ignore', '$.at', '--ignore', '$.requestId']);
    assert.equal(bad.code, 1);
    const human = await berth(dir, ['replay', har, '--to', v2.url, '--rate', 'max', '--ignore', '$.at,$.requestId']);
    assert.equal(human.code, 1);
    assert.match(human.stdout, /\$\.price: 30 → 45/);
  });

  test('--max-diff-percent lets a share of differences pass', async () => {
    const r = await replayJson([har, '--to', v2.url, '--rate', 'max', '--ignore', '$.at,$.requestId', '--max-diff-percent', '50']);
    assert.equal(r.code, 0);
    assert.equal(r.out.diff, 1);
  });

  test('1 when the target does not answer', async () => {
    const r = await replayJson([har, '--to', 'http://127.0.0.1:9', '--rate', 'max', '--timeout', '5']);
    assert.equal(r.code, 1);
    assert.equal(r.out.failed, 3);
    assert.deepEqual(r.out.failures, { 'http://127.0.0.1:9: ECONNREFUSED': 3 });
  });

  test('2 on usage errors, with a message', async () => {
    const cases: [string[], RegExp][] = [
      [[har], /--to/],
      [[har, '--to', v1.url, '--rate', 'fast'], /--rate must be/],
      [[join(dir, 'missing.har'), '--to', v1.url], /missing\.har: cannot read/],
      [[har, '--to', v1.url, '--mock-dependencies'], /--mock-dependencies needs --to SERVICE or SERVICE@variant/],
      [[har, '--to', v1.url, '--filter', '{colour: red}'], /unknown match field/],
      [[har, '--to', 'not a target!'], /--to: give SERVICE/],
      [[har, '--to', v1.url, '--concurrency', '0'], /--concurrency/],
    ];
    for (const [args, message] of cases) {
      const r = await berth(dir, ['replay', ...args]);
      assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
      assert.match(r.stderr, message);
    }
  });
});
