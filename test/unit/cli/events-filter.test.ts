// `berth events --service S --type T --since WHEN` (issue 19 point 6): which events each filter keeps.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { eventFilter, sinceTime } from '../../../src/cli/commands/events.js';
import type { StoredEvent } from '../../../src/control/index.js';

const NOW = Date.parse('2026-12-05T09:00:00.000Z');
let seq = 0;
const ev = (over: Partial<StoredEvent>): StoredEvent => ({ seq: ++seq, at: '2026-12-05T08:59:00.000Z', type: 'Normal', reason: 'Started', message: 'm', source: 'test', ...over });

const all = [
  ev({ service: 'web', reason: 'Scaled' }),
  ev({ instance: 'web-3', type: 'Warning', reason: 'BackOff' }),
  ev({ service: 'web.v2', reason: 'RolloutRestart' }),
  ev({ instance: 'webhook-1', reason: 'Started' }),
  ev({ instance: 'api-1', reason: 'Killing', at: '2026-12-05T07:00:00.000Z' }),
  ev({ node: 'node-1', type: 'Warning', reason: 'NodeLost' }),
];
const pick = (o: Parameters<typeof eventFilter>[0]) => all.filter(eventFilter(o, NOW)).map((e) => e.seq - all[0].seq);

test('no filter keeps everything', () => {
  assert.deepEqual(pick({}), [0, 1, 2, 3, 4, 5]);
});

test('--service keeps the service, its instances and its variants, not a service that only shares a prefix', () => {
  assert.deepEqual(pick({ service: ['web'] }), [0, 1, 2]);
  assert.deepEqual(pick({ service: ['web', 'api'] }), [0, 1, 2, 4]);
});

test('--type takes a type or a reason, in any case', () => {
  assert.deepEqual(pick({ type: ['warning'] }), [1, 5]);
  assert.deepEqual(pick({ type: ['Killing', 'scaled'] }), [0, 4]);
});

test('--since takes a duration back from now or a date; filters combine', () => {
  assert.deepEqual(pick({ since: '1h' }), [0, 1, 2, 3, 5]);
  assert.deepEqual(pick({ since: '2026-12-05T06:00:00Z' }), [0, 1, 2, 3, 4, 5]);
  assert.deepEqual(pick({ since: '30s' }), []);
  assert.deepEqual(pick({ service: ['web'], type: ['Warning'], since: '2m' }), [1]);
  assert.equal(sinceTime('90s', NOW), NOW - 90_000);
  assert.equal(sinceTime('1.5h', NOW), NOW - 5_400_000);
});

test('an unreadable --since is a usage error (exit 2)', () => {
  for (const bad of ['yesterday', '10 minutes', '-5m', '2026-13-45']) {
    assert.throws(() => eventFilter({ since: bad }, NOW), (err: Error & { exitCode?: number }) => err.exitCode === 2 && /--since/.test(err.message), bad);
  }
});
