// The proxy's request counters: every label set counted apart, whatever order requests of different
// series come in (the last series is remembered, so a run of one route skips the lookups).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Metrics } from '../../../src/sidecar/proxy/metrics.js';
import { rng } from '../../helpers/seeded-random.js';

/** requests_total per label set and code, read back from the exposition text. */
function counts(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    const m = /^berth_proxy_requests_total\{proxy="p",(.*)\} (\d+)$/.exec(line);
    if (m) out.set(m[1], Number(m[2]));
  }
  return out;
}

test('metrics: requests of interleaved series are each counted in their own series (the remembered one never absorbs another)', () => {
  const m = new Metrics('p', 'me');
  const random = rng(3);
  const expected = new Map<string, number>();
  const pick = <T>(xs: T[]): T => xs[Math.floor(random() * xs.length)];
  for (let i = 0; i < 5000; i++) {
    // Runs of one series and switches between them; each label differing alone.
    const direction = pick(['outbound', 'inbound']);
    const destination = pick(['orders', 'users']);
    const variant = pick(['stable', 'canary']);
    const route = pick(['default', 'api']);
    const source = pick(['me', 'web', 'unknown']);
    const code = pick([200, 200, 503]);
    // The same text in another string object: the same series.
    const dest = random() < 0.5 ? destination : [...destination].join('');
    m.request(direction, dest, variant, route, code, random() / 10, source);
    const key = `source="${source}",direction="${direction}",destination="${destination}",variant="${variant}",route="${route}",code="${code}"`;
    expected.set(key, (expected.get(key) ?? 0) + 1);
  }
  assert.deepEqual(new Map([...counts(m.render())].sort()), new Map([...expected].sort()));
});
