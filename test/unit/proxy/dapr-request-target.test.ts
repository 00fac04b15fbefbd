// The building-block API splits plain request targets by hand (new URL per request was a visible
// share of its CPU): the split must give what new URL gives for every target, plain or not.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { requestTarget } from '../../../src/sidecar/proxy/dapr/request-target.js';

const targets = [
  '/',
  '/v1.0/state/statestore',
  '/v1.0/state/statestore/k1',
  '/v1.0/state/statestore/a%2Fb?metadata.ttlInSeconds=5&x=1',
  '/v1.0/state/statestore/k?',
  '/v1.0/invoke/target/method/x/y?q=1&q=2',
  '/v1.0/publish/pubsub/orders?metadata.rawPayload=true',
  '/v1.0/state/../metadata',
  '/v1.0/state/%2e%2E/metadata',
  '/v1.0/state/s/.hidden',
  '//v1.0.x/metadata',
  '/v1.0/state/s/k#frag',
  '/v1.0/state/s/k\\x',
  '/v1.0/state/s/kä',
  '/v1.0/state/s/k v',
  '/v1.0/metadata?a=%20b+c',
  '//admin/x',
  '//v1.0/metadata',
];

test('request targets split as new URL splits them as paths (plain ones by hand, others through URL)', () => {
  for (const t of targets) {
    const want = new URL(`http://dapr${t}`);
    const got = requestTarget(t);
    assert.equal(got.pathname, want.pathname, `pathname of ${t}`);
    assert.equal(got.search, want.search, `search of ${t}`);
    assert.deepEqual([...got.searchParams], [...want.searchParams], `query of ${t}`);
  }
  assert.equal(requestTarget(undefined).pathname, '/');
  // A leading '//' is a path, not an authority: `new URL('//admin/x', base)` made it host `admin`
  // and the app got `/x` (and '//v1.0/metadata' a 500 'Invalid URL').
  assert.equal(requestTarget('//admin/x').pathname, '//admin/x');
  // Not a path at all: a 400 from the API.
  assert.throws(() => requestTarget('*'), (err: Error & { status?: number }) => err.status === 400);
  assert.throws(() => requestTarget('http://x/y'), (err: Error & { status?: number }) => err.status === 400);
});
