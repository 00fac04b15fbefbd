// `berth replay --to SERVICE` and `--to SERVICE@variant` against the example shop on the local
// runtime: a browser (Playwright + Debian's chromium) records a HAR against the shop's web service,
// and the replay through the gateway and straight to the variant's instances finds no difference.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { validateHar } from '../../src/replay/index.js';
import { berth, copyShop } from './harness/berth.js';
import { browserHar, chromiumPath, isBrowserTimingQuirk } from './replay-helpers/servers.js';

describe('replaying a browser-made HAR against the example shop', { skip: chromiumPath() === undefined ? 'no /usr/bin/chromium (required under CI)' : false }, () => {
  const shop = copyShop();
  const cwd = shop.dir;
  const har = join(cwd, 'shop.har');

  before(async () => {
    // One web instance: its page names the instance and pid that served it, so a replay through
    // the gateway lands on the same one and nothing differs but what the test changes.
    const spec = join(cwd, 'berth.yaml');
    writeFileSync(spec, readFileSync(spec, 'utf8').replace('replicas: 2', 'replicas: 1'));
    const up = await berth(cwd, ['up', '-d', '--wait', '--timeout', '90'], { timeoutMs: 120_000 });
    assert.equal(up.code, 0, `berth up failed: ${up.stdout}\n${up.stderr}`);
    await browserHar(`http://127.0.0.1:${shop.web}/api/whoami`, har, async (page) => {
      // A purchase first (a write the replay skips), then the pages that show its effect.
      const bought = await page.evaluate(async () => (await fetch('/buy?sku=mug&qty=1', { method: 'POST' })).status);
      assert.equal(bought, 201);
      await page.evaluate(async () => (await fetch('/', { headers: { accept: 'text/html' } })).text());
      await page.evaluate(async () => (await fetch('/')).text());
    });
  });

  after(async () => {
    await berth(cwd, ['down']);
  });

  test('the HAR is valid and holds the shop requests', () => {
    const doc = JSON.parse(readFileSync(har, 'utf8'));
    assert.deepEqual(validateHar(doc).filter((v) => !isBrowserTimingQuirk(v)), []);
    const urls = doc.log.entries.map((e: { request: { method: string; url: string } }) => `${e.request.method} ${new URL(e.request.url).pathname}`);
    for (const u of ['GET /api/whoami', 'POST /buy', 'GET /']) assert.ok(urls.includes(u), `${u} in ${urls.join(', ')}`);
  });

  for (const to of ['web', 'web@default']) {
    test(`--to ${to}: every request answered, the write skipped, no difference (exit 0)`, async () => {
      const r = await berth(cwd, ['replay', har, '--to', to, '--json'], { timeoutMs: 60_000 });
      assert.equal(r.code, 0, `${r.stdout}\n${r.stderr}`);
      const out = JSON.parse(r.stdout);
      assert.equal(out.passed, true);
      assert.equal(out.failed, 0);
      assert.ok(out.sent >= 3, `sent ${out.sent}`);
      assert.equal(out.skipped.sideEffects, 1);
      assert.ok(out.report.endpoints.some((e: { endpoint: string }) => e.endpoint === 'GET /api/whoami'));
    });
  }

  test('an unknown service is a usage error', async () => {
    const r = await berth(cwd, ['replay', har, '--to', 'nosuch']);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /no service nosuch/);
  });
});
