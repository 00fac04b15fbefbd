// `berth replay` reports kept in .berth/replays/: written whole (0600), listed newest first, the
// oldest deleted beyond the bound, ids that cannot name another file refused.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { listReplayReports, readReplayReport, saveReplayReport, type DiffReport } from '../../../src/replay/index.js';

const report = (diffs: number): DiffReport => ({
  requests: 4,
  compared: 4,
  diffs,
  failed: 0,
  diffPercent: diffs * 25,
  endpoints: [{ endpoint: 'GET /price/{id}', method: 'GET', route: '/price/{id}', requests: 4, diffs, failed: 0, fields: diffs ? [{ path: '$.price', count: diffs, examples: [{ expected: '30', actual: '60', request: 'GET /price/mug' }] }] : [], noise: [] }],
});
const run = (diffs: number) => ({ passed: diffs === 0, to: 'front@v2', sent: 4, ok: 4, failed: 0, diff: diffs, durationMs: 12, files: ['/tmp/a.har'], report: report(diffs) });

test('reports are kept newest first, bounded, and read back whole', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'berth-replays-'));
  const t0 = Date.parse('2026-12-05T14:00:00.000Z');
  const ids: string[] = [];
  for (let i = 0; i < 4; i++) ids.push(await saveReplayReport(dir, run(i), new Date(t0 + i * 1000), 3));
  assert.deepEqual(ids[0], '20261205T140000000Z');
  const list = await listReplayReports(dir);
  assert.deepEqual(list.map((r) => r.id), [ids[3], ids[2], ids[1]], 'the oldest beyond 3 is deleted');
  assert.deepEqual(list[0], { id: ids[3], at: '2026-12-05T14:00:03.000Z', files: ['/tmp/a.har'], passed: false, to: 'front@v2', sent: 4, failed: 0, diff: 3, diffPercent: 75, endpoints: 1 });
  const full = await readReplayReport(dir, ids[1]);
  assert.equal(full?.report.endpoints[0].fields[0].examples[0].actual, '60');
  assert.equal(statSync(join(dir, 'replays', `${ids[1]}.json`)).mode & 0o777, 0o600);
  assert.deepEqual(readdirSync(join(dir, 'replays')).filter((f) => f.endsWith('.tmp')), []);
});

test('two runs in the same millisecond get distinct ids; other names and broken files are not reports', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'berth-replays-'));
  const now = new Date('2026-12-05T14:00:00.000Z');
  const a = await saveReplayReport(dir, run(0), now);
  const b = await saveReplayReport(dir, run(1), now);
  assert.notEqual(a, b);
  writeFileSync(join(dir, 'replays', '20261205T150000000Z.json'), '{not json');
  writeFileSync(join(dir, 'replays', 'notes.json'), '{}');
  assert.deepEqual((await listReplayReports(dir)).map((r) => r.id).sort(), [a, b].sort());
  assert.equal(await readReplayReport(dir, '../../etc/passwd'), undefined);
  assert.equal(await readReplayReport(dir, '20261205T150000000Z'), undefined);
  assert.deepEqual(await listReplayReports(mkdtempSync(join(tmpdir(), 'berth-none-'))), []);
});
