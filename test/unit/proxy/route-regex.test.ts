// Route regexes run on RE2 (issue 12 point 7): a pattern that makes a backtracking engine take
// exponential time (`/(a+)+$` against a path of a's ending in a non-matching character) is matched
// in linear time through the compiled routing table, so one request cannot freeze a proxy.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { performance } from 'node:perf_hooks';
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
