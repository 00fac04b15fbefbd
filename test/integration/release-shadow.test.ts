// Shadow traffic in a real canary release (issue 15 point 4): a setMirrorRoute step copies the
// ingress's /item and /same requests to the canary at weight 0; the canary answers /item with another
// price. The gateway compares each copy's answer with stable's, and `berth release status --json`
// shows them: every compared /item copy differing in $.price (10 → 12), every /same copy the same,
// the timestamp kept out by `replay.ignore`, the step each route comes from. Users get stable only.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { berth, berthOk, portBlock, tempApp, waitFor } from './harness/berth.js';
import type { ReleaseStatus } from '../../src/control/index.js';

const webJs = `
import http from 'node:http';
http.createServer((req, res) => {
  res.writeHead(200, { 'content-type': 'application/json' });
  const price = req.url.startsWith('/item') ? Number(process.env.PRICE) : 1;
  res.end(JSON.stringify({ path: req.url, price, at: Date.now() + '-' + Math.random() }));
}).listen(Number(process.env.PORT), process.env.HOST);
process.on('SIGTERM', () => process.exit(0));
`;

const base = portBlock(2);
const ports = { ingress: base, web: base + 1 };

const spec = (price: number) => `app: relshadow
ingress:
  port: ${ports.ingress}
  routes:
    - to: web
services:
  web:
    run: node web.mjs
    port: ${ports.web}
    replicas: 1
    env: { PRICE: "${price}" }
    replay: { ignore: [$.at] }
    probes:
      readiness: { tcp: {}, periodSeconds: 0.2 }
    stopGracePeriodSeconds: 1
    release:
      strategy: canary
      canary:
        steps:
          - setCanaryScale: { replicas: 1 }
          - setMirrorRoute: { name: copy, match: [{ path: { prefix: /item } }, { path: { prefix: /same } }] }
          - pause: {}
`;

const dir = tempApp({ 'web.mjs': webJs, 'berth.yaml': spec(10) });

async function status(): Promise<ReleaseStatus> {
  const info = JSON.parse(readFileSync(join(dir, '.berth', 'control.json'), 'utf8')) as { port: number };
  const token = readFileSync(join(dir, '.berth', 'token'), 'utf8').trim();
  const res = await fetch(`http://127.0.0.1:${info.port}/api/v1/release/web`, { headers: { authorization: `Bearer ${token}` } });
  return (await res.json()) as ReleaseStatus;
}

async function get(path: string): Promise<{ price: number }> {
  const res = await fetch(`http://127.0.0.1:${ports.ingress}${path}`);
  return (await res.json()) as { price: number };
}

describe('shadow traffic of a canary release', () => {
  before(async () => {
    await berthOk(dir, ['up', '-d', '--wait', '--timeout', '60']);
  });
  after(async () => {
    await berth(dir, ['down']);
  });

  test('mirrored requests are compared with stable and counted in berth release status', async () => {
    const first = await status();
    assert.equal(first.shadow, null, 'no release: no shadow');
    writeFileSync(join(dir, 'berth.yaml'), spec(12));
    await berthOk(dir, ['apply']);
    await waitFor('paused with the mirror route in force', async () => (await status()).phase === 'Paused', 60_000, 100);
    // The proxies load the comparison with the first mirrored request: send until counts show.
    const sent = { item: 0, same: 0, other: 0 };
    let last: ReleaseStatus | undefined;
    const counted = await waitFor(
      '20 /item and 10 /same copies compared',
      async () => {
        for (let i = 0; i < 5; i++) {
          assert.equal((await get(`/item/${sent.item++}`)).price, 10, 'users get stable');
          assert.equal((await get(`/same/${sent.same++}`)).price, 1);
          await get(`/other/${sent.other++}`);
        }
        last = await status();
        const r = (name: string) => last!.shadow?.routes.find((x) => x.route === name);
        return (r('release-mirror-copy-0')?.compared ?? 0) >= 20 && (r('release-mirror-copy-1')?.compared ?? 0) >= 10 ? last : undefined;
      },
      60_000,
      100,
    ).catch((err: Error) => assert.fail(`${err.message}; last status ${JSON.stringify(last?.shadow)}`));
    const sh = counted.shadow!;
    const item = sh.routes.find((x) => x.route === 'release-mirror-copy-0')!;
    const same = sh.routes.find((x) => x.route === 'release-mirror-copy-1')!;
    assert.deepEqual(sh.routes.map((r) => r.route), ['release-mirror-copy-0', 'release-mirror-copy-1'], 'only the mirror routes (/other is not copied)');
    assert.ok(item.compared <= sent.item && same.compared <= sent.same, `no more comparisons than requests: ${JSON.stringify(sh)} ${JSON.stringify(sent)}`);
    assert.equal(item.differing, item.compared, 'every /item copy differs');
    assert.equal(item.errors, 0);
    assert.deepEqual(item.topFields.map((f) => [f.path, f.count, f.expected, f.actual]), [['$.price', item.differing, '10', '12']], 'the price differs; the timestamp is ignored');
    assert.deepEqual([item.mirrorRoute, item.step], ['copy', 1]);
    assert.deepEqual([same.differing, same.compared === same.same, same.topFields], [0, true, []]);
    assert.equal(sh.compared, item.compared + same.compared);
    assert.equal(sh.differing, item.differing);
    assert.ok(sh.proxies >= 1 && sh.final === false);

    // The CLI shows the same, as JSON and as text.
    const json = JSON.parse((await berthOk(dir, ['release', 'status', 'web', '--json'])).stdout) as ReleaseStatus;
    assert.ok(json.shadow && json.shadow.differing >= item.differing && json.shadow.routes[0].topFields[0].path === '$.price', JSON.stringify(json.shadow));
    const text = (await berthOk(dir, ['release', 'status', 'web'])).stdout;
    assert.match(text, /shadow\s+\d+ compared\s+\d+ differing \(\d+(\.\d+)?%\)/);
    assert.match(text, /release-mirror-copy-0\s+2\s+\d+\s+\d+\s+0\s+\$\.price ×\d+ \(10 → 12\)/);

    // After an abort the counters are read once more and kept with the release.
    await berthOk(dir, ['release', 'abort', 'web']);
    const final = await waitFor('final shadow reading', async () => {
      const s = await status();
      return s.shadow?.final ? s : undefined;
    }, 30_000, 100);
    assert.ok(final.shadow!.compared >= sh.compared);
  });
});
