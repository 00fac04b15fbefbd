// Route regexes run on RE2 (issue 12 point 7): a pattern that makes a backtracking engine take
// exponential time (`/(a+)+$` against a path of a's ending in a non-matching character) is matched
// in linear time through the compiled routing table, so one request cannot freeze a proxy.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { performance } from 'node:perf_hooks';
import { spawnSync } from 'node:child_process';
import type { MeshSnapshot } from '../../../src/lib/mesh-protocol.js';
import { RoutingTable } from '../../../src/sidecar/proxy/routing-table.js';
import { EndpointRegistry } from '../../../src/sidecar/proxy/endpoints.js';
import { ThrottleRegistry } from '../../../src/sidecar/proxy/throttle.js';

function table(): RoutingTable {
  const snapshot: MeshSnapshot = {
    version: 1,
    app: 'regex',
    services: [{ name: 'web', port: 8080, endpoints: [{ id: 'web-1', host: '127.1.1.2', port: 8080, variant: 'default' }] }],
    config: {
      accessLog: false,
      services: {
        web: {
          routes: [
            { name: 'evil', match: { path: { regex: '/(a+)+$' } } },
            { name: 'header', match: { headers: { 'x-id': { regex: '(x+x+)+y' } } } },
            { name: 'rest' },
          ],
        },
      },
    },
  };
  return new RoutingTable(snapshot, new EndpointRegistry(), new ThrottleRegistry());
}

const route = (t: RoutingTable, url: string, headers: Record<string, string> = {}) => t.services.get('web')!.route({ url, method: 'GET', headers });

test('a ReDoS-prone path regex matches in linear time through the compiled routing table', () => {
  const t = table();
  assert.equal(route(t, '/aaaa')?.name, 'evil');
  assert.equal(route(t, '/aaaa?q=1')?.name, 'evil', 'the query is not part of the path');
  assert.equal(route(t, '/aab')?.name, 'rest');
  // 2^25 backtracking steps for RegExp; a handful of microseconds for RE2.
  for (const path of ['/' + 'a'.repeat(25) + '!', '/' + 'a'.repeat(100_000) + '!']) {
    const t0 = performance.now();
    assert.equal(route(t, path)?.name, 'rest');
    const ms = performance.now() - t0;
    assert.ok(ms < 250, `matching ${path.length} bytes took ${ms.toFixed(0)} ms`);
  }
});

test('a ReDoS-prone header regex matches in linear time', () => {
  const t = table();
  assert.equal(route(t, '/x', { 'x-id': 'xxxy' })?.name, 'header');
  const t0 = performance.now();
  assert.equal(route(t, '/x', { 'x-id': 'x'.repeat(28) })?.name, 'rest');
  const ms = performance.now() - t0;
  assert.ok(ms < 250, `took ${ms.toFixed(0)} ms`);
});

test('the regex engine is loaded only when a route has a regex (a sidecar without one does not pay its memory)', () => {
  // A fresh process: this test file's own module cache already holds the engine.
  const script = `
    import { createRequire } from 'node:module';
    import { RoutingTable } from ${JSON.stringify(new URL('../../../src/sidecar/proxy/routing-table.js', import.meta.url).href)};
    import { EndpointRegistry } from ${JSON.stringify(new URL('../../../src/sidecar/proxy/endpoints.js', import.meta.url).href)};
    import { ThrottleRegistry } from ${JSON.stringify(new URL('../../../src/sidecar/proxy/throttle.js', import.meta.url).href)};
    const loaded = () => Object.keys(createRequire(import.meta.url).cache).some((k) => k.includes('re2js'));
    const snap = (routes) => ({ version: 1, app: 'r', services: [{ name: 'web', port: 1, endpoints: [] }], config: { accessLog: false, services: { web: { routes } } } });
    const plain = new RoutingTable(snap([{ name: 'p', match: { path: { prefix: '/a' } } }, { name: 'rest' }]), new EndpointRegistry(), new ThrottleRegistry());
    const before = loaded();
    const withRegex = new RoutingTable(snap([{ name: 'r', match: { path: { regex: '/a+' } } }, { name: 'rest' }]), new EndpointRegistry(), new ThrottleRegistry());
    const name = withRegex.services.get('web').route({ url: '/aaa', method: 'GET', headers: {} })?.name;
    void plain;
    process.stdout.write(JSON.stringify({ before, after: loaded(), name }));`;
  const out = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8' });
  assert.equal(out.status, 0, out.stderr);
  assert.deepEqual(JSON.parse(out.stdout), { before: false, after: true, name: 'r' });
});
